-- The 15-minute care circle kept incrementally (docs/dashboard.md "The care circle's summary").
--   care_circle_rule    the radii the stored states were measured with (one row)
--   care_circle_point   approved, located providers: meal point and/or care provider
--                       (synced from the provider directory by service/circle_summary.py)
--   care_circle_person  one row per active person: region, location, meal / care in reach
--   summary_care_circle per region code: active, exact, covered, meal, care, approximate,
--                       unlocated (statement triggers on care_circle_person)
-- A person is (re)measured when their row of beneficiary changes in status, region or
-- location; a provider's change re-measures only the people within the larger radius of its
-- old and new positions. The distance is service/review_rules.distance_m's haversine in whole
-- metres (round half to even, as Python's round).

CREATE OR REPLACE FUNCTION care_circle_distance_m(lat1 float8, lon1 float8, lat2 float8,
                                                  lon2 float8) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT round(2 * 6371008.8 * asin(least(1.0::float8, sqrt(
           power(sin((radians(lat2) - radians(lat1)) / 2), 2)
           + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lon2 - lon1) / 2), 2)))))
$$;

-- Whether an approved meal point (meal) or care provider (NOT meal) lies within radius_m of
-- the position: the points of a box a little larger than the radius, then the distance.
CREATE OR REPLACE FUNCTION care_circle_near(p_lat float8, p_lon float8, p_meal boolean,
                                            p_radius int) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM care_circle_point c
     WHERE (CASE WHEN p_meal THEN c.meal ELSE c.care END)
       AND c.lat BETWEEN p_lat - (p_radius / 111195.0 + 0.001)
                     AND p_lat + (p_radius / 111195.0 + 0.001)
       AND c.lon BETWEEN p_lon - (p_radius / 111195.0 + 0.001)
                           / greatest(cos(radians(least(abs(p_lat) + p_radius / 111195.0 + 0.001, 89.0))), 1e-6)
                     AND p_lon + (p_radius / 111195.0 + 0.001)
                           / greatest(cos(radians(least(abs(p_lat) + p_radius / 111195.0 + 0.001, 89.0))), 1e-6)
       AND care_circle_distance_m(p_lat, p_lon, c.lat, c.lon) <= p_radius)
$$;

-- Re-measure the given people (NULL: everyone) against the points; only changed rows are
-- written (so the summary trigger moves only what moved). Returns rows changed.
CREATE OR REPLACE FUNCTION care_circle_remeasure(ids uuid[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  r care_circle_rule;
  n bigint;
BEGIN
  SELECT * INTO r FROM care_circle_rule;
  IF ids IS NULL THEN
    UPDATE care_circle_person p SET meal = x.meal, care = x.care
      FROM (SELECT q.beneficiary_id,
                   care_circle_near(q.lat, q.lon, true, r.meal_radius_m) AS meal,
                   care_circle_near(q.lat, q.lon, false, r.care_radius_m) AS care
              FROM care_circle_person q
             WHERE q.lat IS NOT NULL AND q.lon IS NOT NULL AND NOT q.approximate) x
     WHERE p.beneficiary_id = x.beneficiary_id
       AND (p.meal, p.care) IS DISTINCT FROM (x.meal, x.care);
  ELSE
    -- the few people near a provider: by primary key from the list, never a scan
    UPDATE care_circle_person p SET meal = x.meal, care = x.care
      FROM (SELECT q.beneficiary_id,
                   care_circle_near(q.lat, q.lon, true, r.meal_radius_m) AS meal,
                   care_circle_near(q.lat, q.lon, false, r.care_radius_m) AS care
              FROM unnest(ids) AS u(id)
              JOIN care_circle_person q ON q.beneficiary_id = u.id
             WHERE q.lat IS NOT NULL AND q.lon IS NOT NULL AND NOT q.approximate) x
     WHERE p.beneficiary_id = x.beneficiary_id
       AND (p.meal, p.care) IS DISTINCT FROM (x.meal, x.care);
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- beneficiary -> care_circle_person: active people in, others out; a changed status, region
-- or location re-measures the person. The rule's row is share-locked first, so a provider
-- change (which locks it for update) and this take turns and each sees the other's rows.
CREATE OR REPLACE FUNCTION care_circle_person_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r care_circle_rule;
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM care_circle_person c USING old_rows o WHERE c.beneficiary_id = o.id;
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE status = 'active') THEN
      RETURN NULL;
    END IF;
    SELECT * INTO r FROM care_circle_rule FOR SHARE;
    INSERT INTO care_circle_person AS c (beneficiary_id, region_code, lat, lon, approximate,
                                         meal, care)
    SELECT n.id, n.region_code, n.lat, n.lon, n.location_approximate,
           n.lat IS NOT NULL AND n.lon IS NOT NULL AND NOT n.location_approximate
             AND care_circle_near(n.lat, n.lon, true, r.meal_radius_m),
           n.lat IS NOT NULL AND n.lon IS NOT NULL AND NOT n.location_approximate
             AND care_circle_near(n.lat, n.lon, false, r.care_radius_m)
      FROM new_rows n WHERE n.status = 'active';
    RETURN NULL;
  END IF;
  -- UPDATE: only the rows whose status, region or location changed
  IF NOT EXISTS (
      SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
       WHERE (n.status, n.region_code, n.lat, n.lon, n.location_approximate)
             IS DISTINCT FROM (o.status, o.region_code, o.lat, o.lon, o.location_approximate)) THEN
    RETURN NULL;
  END IF;
  SELECT * INTO r FROM care_circle_rule FOR SHARE;
  DELETE FROM care_circle_person c USING new_rows n
   WHERE c.beneficiary_id = n.id AND n.status <> 'active';
  INSERT INTO care_circle_person AS c (beneficiary_id, region_code, lat, lon, approximate,
                                       meal, care)
  SELECT n.id, n.region_code, n.lat, n.lon, n.location_approximate,
         n.lat IS NOT NULL AND n.lon IS NOT NULL AND NOT n.location_approximate
           AND care_circle_near(n.lat, n.lon, true, r.meal_radius_m),
         n.lat IS NOT NULL AND n.lon IS NOT NULL AND NOT n.location_approximate
           AND care_circle_near(n.lat, n.lon, false, r.care_radius_m)
    FROM new_rows n JOIN old_rows o ON o.id = n.id
   WHERE n.status = 'active'
     AND (n.status, n.region_code, n.lat, n.lon, n.location_approximate)
         IS DISTINCT FROM (o.status, o.region_code, o.lat, o.lon, o.location_approximate)
  ON CONFLICT (beneficiary_id) DO UPDATE
     SET region_code = EXCLUDED.region_code, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
         approximate = EXCLUDED.approximate, meal = EXCLUDED.meal, care = EXCLUDED.care;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS care_circle_person_ins ON beneficiary;
CREATE TRIGGER care_circle_person_ins AFTER INSERT ON beneficiary
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION care_circle_person_apply();
DROP TRIGGER IF EXISTS care_circle_person_upd ON beneficiary;
CREATE TRIGGER care_circle_person_upd AFTER UPDATE ON beneficiary
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION care_circle_person_apply();
DROP TRIGGER IF EXISTS care_circle_person_del ON beneficiary;
CREATE TRIGGER care_circle_person_del AFTER DELETE ON beneficiary
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION care_circle_person_apply();

-- care_circle_person -> summary_care_circle: one grouped upsert per statement, old rows out,
-- new rows in (as summary_enrolment). Unlocated: no latitude or longitude; approximate: set
-- from the community's centre; exact: the others, judged covered when both are in reach.
CREATE OR REPLACE FUNCTION summary_care_circle_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The transition tables present depend on the operation: the statement is put together.
  EXECUTE format($q$
  WITH d AS (%s), k AS (
    SELECT region_code, d,
           (lat IS NULL OR lon IS NULL) AS unlocated,
           (lat IS NOT NULL AND lon IS NOT NULL AND approximate) AS approx,
           (lat IS NOT NULL AND lon IS NOT NULL AND NOT approximate) AS exact,
           meal, care
      FROM d
  )
  INSERT INTO summary_care_circle AS s (region_code, active, exact, covered, meal_covered,
                                        care_covered, approximate, unlocated)
  SELECT region_code, sum(d),
         coalesce(sum(d) FILTER (WHERE exact), 0),
         coalesce(sum(d) FILTER (WHERE exact AND meal AND care), 0),
         coalesce(sum(d) FILTER (WHERE exact AND meal), 0),
         coalesce(sum(d) FILTER (WHERE exact AND care), 0),
         coalesce(sum(d) FILTER (WHERE approx), 0),
         coalesce(sum(d) FILTER (WHERE unlocated), 0)
    FROM k GROUP BY region_code ORDER BY region_code
  ON CONFLICT (region_code) DO UPDATE
     SET active = s.active + EXCLUDED.active, exact = s.exact + EXCLUDED.exact,
         covered = s.covered + EXCLUDED.covered,
         meal_covered = s.meal_covered + EXCLUDED.meal_covered,
         care_covered = s.care_covered + EXCLUDED.care_covered,
         approximate = s.approximate + EXCLUDED.approximate,
         unlocated = s.unlocated + EXCLUDED.unlocated
  $q$, CASE TG_OP
         WHEN 'INSERT' THEN 'SELECT region_code, lat, lon, approximate, meal, care, 1 AS d FROM new_rows'
         WHEN 'DELETE' THEN 'SELECT region_code, lat, lon, approximate, meal, care, -1 AS d FROM old_rows'
         ELSE 'SELECT region_code, lat, lon, approximate, meal, care, 1 AS d FROM new_rows'
              ' UNION ALL SELECT region_code, lat, lon, approximate, meal, care, -1 FROM old_rows'
       END);
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS summary_care_circle_ins ON care_circle_person;
CREATE TRIGGER summary_care_circle_ins AFTER INSERT ON care_circle_person
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION summary_care_circle_apply();
DROP TRIGGER IF EXISTS summary_care_circle_upd ON care_circle_person;
CREATE TRIGGER summary_care_circle_upd AFTER UPDATE ON care_circle_person
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION summary_care_circle_apply();
DROP TRIGGER IF EXISTS summary_care_circle_del ON care_circle_person;
CREATE TRIGGER summary_care_circle_del AFTER DELETE ON care_circle_person
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION summary_care_circle_apply();

-- care_circle_point -> the people within reach of a point that came, went, moved or changed
-- kind (its old and new positions, the larger radius): re-measured, nobody else.
CREATE OR REPLACE FUNCTION care_circle_point_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r care_circle_rule;
  ids uuid[];
  n bigint;
BEGIN
  SELECT * INTO r FROM care_circle_rule;
  -- Many points at once (the first sync, a bulk import): everyone once, not per point.
  EXECUTE format('SELECT count(*) FROM (%s) c', CASE TG_OP
         WHEN 'INSERT' THEN 'SELECT 1 FROM new_rows'
         WHEN 'DELETE' THEN 'SELECT 1 FROM old_rows'
         ELSE 'SELECT 1 FROM new_rows'
       END) INTO n;
  IF n > 200 THEN
    PERFORM care_circle_remeasure(NULL);
    RETURN NULL;
  END IF;
  EXECUTE format($q$
    SELECT array_agg(DISTINCT p.beneficiary_id)
      FROM (%s) c
      JOIN care_circle_person p
        ON p.lat BETWEEN c.lat - $1 AND c.lat + $1
       AND p.lon BETWEEN c.lon - $1 / greatest(cos(radians(least(abs(c.lat) + $1, 89.0))), 1e-6)
                     AND c.lon + $1 / greatest(cos(radians(least(abs(c.lat) + $1, 89.0))), 1e-6)
     WHERE NOT p.approximate
  $q$, CASE TG_OP
         WHEN 'INSERT' THEN 'SELECT lat, lon FROM new_rows'
         WHEN 'DELETE' THEN 'SELECT lat, lon FROM old_rows'
         ELSE 'SELECT lat, lon FROM new_rows UNION SELECT lat, lon FROM old_rows'
       END)
    INTO ids
    USING greatest(r.meal_radius_m, r.care_radius_m) / 111195.0 + 0.001;
  IF ids IS NOT NULL THEN
    PERFORM care_circle_remeasure(ids);
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS care_circle_point_ins ON care_circle_point;
CREATE TRIGGER care_circle_point_ins AFTER INSERT ON care_circle_point
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION care_circle_point_apply();
DROP TRIGGER IF EXISTS care_circle_point_upd ON care_circle_point;
CREATE TRIGGER care_circle_point_upd AFTER UPDATE ON care_circle_point
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION care_circle_point_apply();
DROP TRIGGER IF EXISTS care_circle_point_del ON care_circle_point;
CREATE TRIGGER care_circle_point_del AFTER DELETE ON care_circle_point
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION care_circle_point_apply();
