#!/usr/bin/env bash
# Screenshot the ROI report with headless Chromium, to see that its charts render without a server.
#   scripts/screenshot_report.sh [report.html] [out.png]
# Chromium comes from Debian: `apt-get install chromium fonts-noto-cjk` (the fonts for Korean).
set -euo pipefail
report="${1:-reports/roi_report.html}"
out="${2:-reports/roi_report.png}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [[ -z "$browser" ]]; then
  echo "No Chromium found: install it with 'apt-get install chromium fonts-noto-cjk'." >&2
  exit 2
fi
if [[ ! -f "$report" ]]; then
  echo "No report at $report: run 'make run' first." >&2
  exit 2
fi
# plotly draws after load; the virtual time budget lets its scripts finish before the capture
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1280,"${HEIGHT:-7200}" --virtual-time-budget=15000 \
  --screenshot="$out" "file://$(realpath "$report")" 2>/dev/null
echo "Screenshot: $out"
