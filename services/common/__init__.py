"""What every Yiyang service shares: settings, database, errors, auth, money, regions, ids."""
