-- The audit trail for consumers: every run with its code and data versions, checks, quarantine,
-- models and promotions. Who launched it stays in governance.audit_log (a person's identifier).

select
    run_id,
    started_at,
    finished_at,
    status,
    launcher,
    selection,
    git_commit,
    data_versions,
    checks_passed,
    checks_warned,
    checks_failed,
    rows_quarantined,
    models_trained,
    promotions
from {{ source('governance', 'audit_log') }}
order by started_at
