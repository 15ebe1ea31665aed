{#- A delivered file as a relation of text columns, for lib/warehouse.py: DuckDB reads every file,
    beside a PostgreSQL warehouse too (in memory, whence the rows go to the server by COPY), so only
    DuckDB's adapter has a spelling. `$path` and the CSV options (`$header`, `$delim`, `$quote`,
    `$encoding`) are bound when it runs. A malformed line fails the read (strict mode) rather than
    being skipped. Trap: DuckDB's Python `read_csv` with strict_mode finds no row in a gzip file
    whose lines end in CR LF, where the table function reads them all (tests/unit/test_warehouse.py). -#}
{% macro delivered_file(format) -%}
    {{ return(adapter.dispatch('delivered_file')(format)) }}
{%- endmacro %}
{% macro default__delivered_file(format) -%}
    {{ exceptions.raise_compiler_error("delivered files are read by DuckDB, in memory beside a server warehouse") }}
{%- endmacro %}
{% macro duckdb__delivered_file(format) -%}
    {%- if format == 'parquet' -%}
        select * from read_parquet($path)
    {%- else -%}
        select * from read_csv($path, all_varchar = true, header = $header, delim = $delim,
            quote = $quote, encoding = $encoding, strict_mode = true)
    {%- endif -%}
{%- endmacro %}
