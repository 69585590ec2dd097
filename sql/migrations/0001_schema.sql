-- SPDX-License-Identifier: Apache-2.0
-- The inventory's tables: Placement-style providers and traits, trait reasons, report history.
--
-- Applied by `vtpm-inventory migrate` inside one transaction, as a superuser
-- (or a role with CREATEROLE that may SET ROLE vtpm_owner). Forward-only:
-- never edit this file once released; add a new numbered file instead.

-- Roles are cluster-wide: another database of the same cluster may have made
-- them already.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vtpm_owner') THEN
        CREATE ROLE vtpm_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vtpm_reporter') THEN
        CREATE ROLE vtpm_reporter NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vtpm_reader') THEN
        CREATE ROLE vtpm_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- a concurrent migration of another database created them
END
$roles$;

CREATE SCHEMA vtpm AUTHORIZATION vtpm_owner;
REVOKE ALL ON SCHEMA vtpm FROM PUBLIC;

-- Everything below belongs to vtpm_owner; the migrate command resets the role
-- after each file.
SET LOCAL ROLE vtpm_owner;

-- Knobs, all durations.
CREATE TABLE vtpm.settings (
    name text PRIMARY KEY,
    value interval NOT NULL,
    description text NOT NULL
);
INSERT INTO vtpm.settings (name, value, description) VALUES
    ('report_retention', '14 days',
     'reports that changed nothing are deleted when older than this'),
    ('change_retention', '365 days',
     'reports that changed a trait are deleted when older than this'),
    ('stale_after', '30 minutes',
     'a host whose last report is older than this is shown as stale');

-- Traits, as in Placement. The seven managed ones carry their bit in
-- vtpm_traitset (include/vtpm/traits.h); other traits have no bit and are
-- never touched by vtpm.publish().
CREATE TABLE vtpm.traits (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE
        CHECK (name ~ '^[A-Z0-9_]{1,255}$'),
    bit smallint UNIQUE CHECK (bit BETWEEN 0 AND 30),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO vtpm.traits (name, bit) VALUES
    ('COMPUTE_SECURITY_TPM_1_2', 0),
    ('COMPUTE_SECURITY_TPM_2_0', 1),
    ('COMPUTE_SECURITY_TPM_TIS', 2),
    ('COMPUTE_SECURITY_TPM_CRB', 3),
    ('COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER', 4),
    ('COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST', 5),
    ('COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT', 6);

-- One row per compute host. tpm_bits mirrors the managed traits in
-- provider_traits (maintained by vtpm.publish()) so that candidate queries are
-- one index lookup instead of a join per required trait.
CREATE TABLE vtpm.resource_providers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid uuid NOT NULL UNIQUE,
    name text NOT NULL UNIQUE
        CHECK (length(name) BETWEEN 1 AND 255 AND name !~ '[[:cntrl:]]'),
    generation bigint NOT NULL DEFAULT 0,
    tpm_bits integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),   -- last trait change
    last_report_at timestamptz,
    last_status text CHECK (last_status IN ('changed', 'unchanged', 'inconclusive')),
    last_inconclusive_reason text,
    last_conclusive_at timestamptz,
    last_reporter text
) WITH (fillfactor = 80);  -- room for HOT updates: most reports change nothing
CREATE INDEX resource_providers_tpm_bits_idx ON vtpm.resource_providers (tpm_bits);

CREATE TABLE vtpm.provider_traits (
    provider_id bigint NOT NULL REFERENCES vtpm.resource_providers (id) ON DELETE CASCADE,
    trait_id integer NOT NULL REFERENCES vtpm.traits (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_id, trait_id)
);
CREATE INDEX provider_traits_trait_idx ON vtpm.provider_traits (trait_id, provider_id);

-- Why each managed trait is present or absent, from the last conclusive report.
CREATE TABLE vtpm.provider_trait_state (
    provider_id bigint NOT NULL REFERENCES vtpm.resource_providers (id) ON DELETE CASCADE,
    trait_id integer NOT NULL REFERENCES vtpm.traits (id),
    present boolean NOT NULL,
    reason_code text NOT NULL,
    reason text NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),     -- when @present last changed
    PRIMARY KEY (provider_id, trait_id)
);

-- Every report, as received: what the probe found and what changed.
CREATE TABLE vtpm.reports (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_id bigint NOT NULL REFERENCES vtpm.resource_providers (id) ON DELETE CASCADE,
    host text NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now(),
    reporter text NOT NULL,                       -- the login that published
    status text NOT NULL CHECK (status IN ('changed', 'unchanged', 'inconclusive')),
    inconclusive_reason text,
    generation bigint NOT NULL,                   -- after this report
    present text[] NOT NULL,                      -- managed traits present after it
    added text[] NOT NULL DEFAULT '{}',
    removed text[] NOT NULL DEFAULT '{}',
    traits jsonb NOT NULL,                        -- {trait: {present, code, reason}}
    facts jsonb
);
CREATE INDEX reports_provider_time_idx ON vtpm.reports (provider_id, reported_at);
CREATE INDEX reports_changes_idx ON vtpm.reports (reported_at) WHERE status = 'changed';

-- Which reporter login may publish which host.
CREATE TABLE vtpm.reporter_bindings (
    login text NOT NULL,
    host text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (login, host)
);
