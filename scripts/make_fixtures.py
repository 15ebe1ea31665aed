"""Cut the small test fixtures in tests/fixtures/ from the embedded real data (deterministic).

Each fixture keeps every kind of problem its source has (duplicates, cancellations, stock
write-offs, invalid states, impossible event order, whitespace, near-duplicates) at a size the
test suite can build in seconds. Run: `.venv/bin/python scripts/make_fixtures.py`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
OUT = ROOT / "tests" / "fixtures"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("select setseed(0.42)")
    orders = DATA / "uci_online_retail" / "online_retail.csv.gz"
    con.execute(
        f"""
        create table o as select *, row_number() over () as rn
        from read_csv('{orders}', all_varchar = true)
        """
    )
    # whole invoices: ~1.5 % of sales invoices, every cancellation of those products' customers,
    # all adjustment ('A') invoices, and the invoices holding exact duplicates or write-offs
    con.execute(
        """
        create table picked as
        with invoices as (select distinct InvoiceNo from o),
        sample as (select InvoiceNo from invoices where hash(InvoiceNo) % 1000 < 15),
        dups as (
            select InvoiceNo from (
                select InvoiceNo, count(*) over (
                    partition by InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
                    UnitPrice, CustomerID, Country
                ) as c from o
            ) where c > 1 and hash(InvoiceNo) % 20 = 0
        ),
        problems as (
            select InvoiceNo from o
            where InvoiceNo like 'A%'
               or (InvoiceNo like 'C%' and hash(InvoiceNo) % 40 = 0)
               or (Quantity::int < 0 and InvoiceNo not like 'C%' and hash(InvoiceNo) % 10 = 0)
        )
        select distinct InvoiceNo from (
            select * from sample union all select * from dups union all select * from problems
        )
        """
    )
    con.execute(
        f"""
        copy (
            select * exclude (rn) from o where InvoiceNo in (select InvoiceNo from picked) order by rn
        ) to '{OUT / "order_lines.csv.gz"}' (header, compression gzip)
        """
    )
    events = DATA / "incident_event_log" / "incident_event_log.csv.gz"
    con.execute(
        f"""
        create table e as select *, row_number() over () as rn
        from read_csv('{events}', all_varchar = true)
        """
    )
    con.execute(
        f"""
        copy (
            select * exclude (rn) from e
            where hash(number) % 40 = 0
               or number in ('INC0028089', 'INC0030413')
               or number in (select number from e where try_strptime(sys_updated_at, '%d/%m/%Y %H:%M')
                                                    < try_strptime(opened_at, '%d/%m/%Y %H:%M'))
            order by rn
        ) to '{OUT / "ticket_events.csv.gz"}' (header, compression gzip)
        """
    )
    for split, per_label in (("train", 12), ("test", 4)):
        source = DATA / "banking77" / f"{split}.csv.gz"
        con.execute(
            f"""
            copy (
                select text, category from (
                    select *, row_number() over () as rn,
                        row_number() over (partition by category order by hash(text)) as k
                    from read_csv('{source}', all_varchar = true)
                )
                where k <= {per_label} or regexp_matches(text, '^\\s|\\s$')
                order by rn
            ) to '{OUT / f"messages_{split}.csv.gz"}' (header, compression gzip)
            """
        )
    for name in sorted(OUT.glob("*.csv.gz")):
        rows = con.execute(f"select count(*) from read_csv('{name}')").fetchone()[0]
        print(f"{name.relative_to(ROOT)}: {rows} rows, {name.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
