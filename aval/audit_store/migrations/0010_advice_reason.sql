-- Why a decision holds no valid suggestion, as a stable reason and its parameters, so that each
-- reader gets it in their language (advice_detail keeps the English wording of the trail).
ALTER TABLE decisions
    ADD COLUMN advice_reason text NOT NULL DEFAULT '',
    ADD COLUMN advice_params jsonb NOT NULL DEFAULT '{}';
