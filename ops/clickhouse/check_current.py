"""Applies the project's ClickHouse migrations to a current ClickHouse (chdb,
ClickHouse as a library) and runs the dedup queries the tests rely on, so the
DDL stays portable beyond the 18.16 server the integration tests start.

    python ops/clickhouse/check_current.py ops/clickhouse/*.sql
"""
import sys

from chdb import session


def statements(path):
    text = "\n".join(l for l in open(path).read().splitlines() if not l.strip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def main(paths):
    s = session.Session()
    s.query("CREATE DATABASE IF NOT EXISTS throng")
    s.query("USE throng")
    for path in paths:
        for statement in statements(path):
            s.query(statement)
    # Two rows of session 1 (a re-run after failover) and one of session 2.
    s.query(
        "INSERT INTO sessions VALUES "
        "(today(),'c',1,0,0,'a',1,0,0,0,'p','j',0,1,0,1,'',1,1,0,0,0,0,'','',''),"
        "(today(),'c',1,0,0,'b',2,0,0,0,'p','j',0,1,0,1,'',1,1,0,0,0,0,'','',''),"
        "(today(),'c',2,0,1,'a',1,0,0,0,'p','j',0,1,0,1,'',1,1,0,0,0,0,'','','')"
    )
    distinct = s.query("SELECT uniqExact(session_id) FROM sessions WHERE campaign_id = 'c'", "CSV")
    final = s.query("SELECT count() FROM sessions FINAL WHERE campaign_id = 'c'", "CSV")
    # A stream event written twice (a shard replayed after failover) and another.
    s.query(
        "INSERT INTO stream_events VALUES "
        "(today(),'r','a.b',7,1000,0,'{}','{}',0,1),"
        "(today(),'r','a.b',7,1000,0,'{}','{}',0,2),"
        "(today(),'r','a.b',8,1001,7,'{}','{}',0,1)"
    )
    events = s.query("SELECT count() FROM stream_events FINAL WHERE run_id = 'r'", "CSV")
    assert str(events).strip() == "2", events
    version = s.query("SELECT version()", "CSV")
    assert str(distinct).strip() == "2", distinct
    assert str(final).strip() == "2", final
    print(f"ClickHouse {str(version).strip().strip(chr(34))}: migrations applied, dedup queries exact")


if __name__ == "__main__":
    main(sys.argv[1:])
