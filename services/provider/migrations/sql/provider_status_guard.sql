-- The status workflow (services/provider/service/vocabulary.py TRANSITIONS, the steps and who
-- takes them in service/review_rules.py): an application (applied) is approved, sent back for
-- changes (changes_requested, then resubmitted: applied again) or refused (refused, final);
-- approved -> suspended <-> approved -> revoked (final). Anything else is ILLEGAL_TRANSITION.
CREATE OR REPLACE FUNCTION provider_status_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = OLD.status THEN
    RETURN NEW;
  END IF;
  IF (OLD.status, NEW.status) IN (('applied', 'approved'), ('applied', 'changes_requested'),
                                  ('applied', 'refused'),
                                  ('changes_requested', 'applied'),
                                  ('changes_requested', 'refused'),
                                  ('approved', 'suspended'), ('approved', 'revoked'),
                                  ('suspended', 'approved'), ('suspended', 'revoked')) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'ILLEGAL_TRANSITION: a provider cannot go from % to %', OLD.status, NEW.status
    USING ERRCODE = 'P0001';
END $$;

DROP TRIGGER IF EXISTS provider_status_guard ON provider;
CREATE TRIGGER provider_status_guard BEFORE UPDATE OF status ON provider
  FOR EACH ROW EXECUTE FUNCTION provider_status_guard();
