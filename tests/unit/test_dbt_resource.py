"""The dbt resource knows dbt's version without starting dbt, and knows it right."""

from __future__ import annotations

import re
import subprocess

from ai_roi.defs.marts.project import DBT_EXECUTABLE, dbt_resource


def test_the_dbt_version_is_the_one_the_executable_reports():
    reported = subprocess.run(
        [str(DBT_EXECUTABLE), "--version"], capture_output=True, text=True, check=True
    ).stdout
    installed = re.search(r"installed:\s*(\d+\.\d+\.\d+)", reported).group(1)
    assert str(dbt_resource()._cli_version) == installed
