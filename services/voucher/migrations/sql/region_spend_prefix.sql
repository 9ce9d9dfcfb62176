-- The significant prefix of a GB/T 2260 code (its first six digits: province 2, city 4,
-- county 6), cut to at most `digits` digits: the area a voucher may be spent in. The same
-- rule as services/voucher/service/redemption.py `spend_region_prefix`.
CREATE OR REPLACE FUNCTION region_spend_prefix(code text, digits integer) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT left(CASE WHEN substr(code, 3, 4) = '0000' THEN left(code, 2)
                   WHEN substr(code, 5, 2) = '00' THEN left(code, 4)
                   ELSE left(code, 6) END, digits)
$$;
