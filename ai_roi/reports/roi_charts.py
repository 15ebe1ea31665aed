"""The ROI report's charts (plotly), each drawn from the figures `roi_report.gather` read, with
the words of the page's language (`t`, its message catalogue's `roi` section)."""

from __future__ import annotations

import plotly.graph_objects as go
from markupsafe import Markup

from ai_roi.reports.layout import money

# the page's colours: what the business has now, and with AI
BASELINE, PILOT, WITH_AI = "#6b7a99", "#d9822b", "#2f7d4a"


def html(fig: go.Figure, first: bool) -> Markup:
    """The chart as a page fragment; the first carries plotly.js inline (no server, no CDN)."""
    fig.update_layout(
        margin={"l": 60, "r": 30, "t": 40, "b": 50},
        height=fig.layout.height or 380,
        template="plotly_white",
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return Markup(
        fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False})
    )


def axes(data: dict, t: dict, language: str) -> go.Figure:
    """ROI by axis: a waterfall of the first 12 months."""
    s, cash = data["summary"], data["cashflow"]
    first_year = cash[cash["month"] <= 12]
    build = float(first_year.loc[first_year["month"] == 0, "ai_cost"].sum())
    running = float(first_year.loc[first_year["month"] > 0, "ai_cost"].sum())
    steps = [
        (t["labour"], s["benefit_cost_reduction_12m"]),
        (t["revenue"], s["benefit_revenue_12m"]),
        (t["risk"], s["benefit_risk_12m"]),
        (t["build"], -build),
        (t["running"], -running),
    ]
    m = lambda v: money(v, s["currency"], language)  # noqa: E731
    return go.Figure(
        go.Waterfall(
            x=[name for name, _ in steps] + [t["net"]],
            y=[value for _, value in steps] + [0],
            measure=["relative"] * len(steps) + ["total"],
            text=[m(v) for _, v in steps] + [m(s["net_benefit_12m"])],
            textposition="outside",
            cliponaxis=False,
        )
    ).update_layout(yaxis_title=s["currency"])


def cashflow(data: dict, t: dict) -> go.Figure:
    """Cumulative net cash flow, the monthly cost of the problem with and without AI, payback."""
    s = data["summary"]
    monthly = (
        data["cashflow"]
        .groupby("month", as_index=False)
        .agg(
            cumulative=("cumulative_net_cash_flow", "first"),
            baseline=("baseline_cost", "sum"),
            with_ai=("with_ai_cost", "sum"),
            ai_cost=("ai_cost", "sum"),
        )
    )
    fig = go.Figure(
        go.Scatter(x=monthly["month"], y=monthly["cumulative"], name=t["cumulative"], mode="lines")
    )
    fig.add_bar(
        x=monthly["month"],
        y=monthly["baseline"],
        name=f"{t['monthly_cost']}: {t['baseline']}",
        opacity=0.35,
        marker_color=BASELINE,
    )
    fig.add_bar(
        x=monthly["month"],
        y=monthly["with_ai"] + monthly["ai_cost"],
        name=f"{t['monthly_cost']}: {t['with_ai']}",
        opacity=0.35,
        marker_color=WITH_AI,
    )
    if s["payback_month"] is not None:
        pb = int(s["payback_month"])
        fig.add_vline(x=pb, line_dash="dash")
        # above the plot area, where no bar or line can cover or clip it
        fig.add_annotation(
            x=pb,
            y=1,
            yref="paper",
            yanchor="bottom",
            text=f"{t['payback']}: {pb}",
            showarrow=False,
        )
    fig.add_hline(y=0, line_width=1)
    return fig.update_layout(
        xaxis_title=t["month"],
        yaxis_title=s["currency"],
        barmode="overlay",
        legend={"orientation": "h", "y": -0.2},
    )


def tornado(data: dict, t: dict) -> go.Figure:
    """What moves the ROI most: each input low and high, named in the page's language."""
    sens = data["sensitivity"].head(12).iloc[::-1]
    base = float(sens["base_roi_horizon_pct"].iloc[0]) if len(sens) else 0.0
    names = [t["assumption_names"].get(a, a.replace("_", " ")) for a in sens["assumption"]]
    fig = go.Figure()
    for side, column in (("low", "roi_horizon_pct_low"), ("high", "roi_horizon_pct_high")):
        fig.add_bar(y=names, x=sens[column] - base, base=base, orientation="h", name=t[side])
    return fig.update_layout(barmode="overlay", xaxis_title=t["roi_pct"], height=460)


def support_kpis(data: dict, t: dict, min_tickets: int) -> go.Figure:
    """Tickets a week (bars) and resolution hours (lines), baseline and pilot. A week with fewer
    than `min_tickets` tickets has no resolution point: one ticket's hours are not a week's."""
    prod = data["productivity"]
    fig = go.Figure()
    for period, colour in (("baseline", BASELINE), ("pilot", PILOT)):
        part = prod[prod["period"] == period]
        fig.add_bar(
            x=part["week_start"],
            y=part["tickets_opened"],
            name=f"{t['tickets']} ({t[period]})",
            marker_color=colour,
            opacity=0.55,
        )
        enough = part["tickets_opened"] >= min_tickets
        fig.add_scatter(
            x=part["week_start"],
            y=part["mean_resolution_hours"].where(enough),
            yaxis="y2",
            mode="lines+markers",
            line={"color": colour},
            connectgaps=False,
            name=f"{t['res']} ({t[period]})",
            customdata=part["tickets_opened"],
            hovertemplate="%{y:,.1f} h · %{customdata} " + t["tickets"] + "<extra></extra>",
        )
    pilot = prod[prod["period"] == "pilot"]
    fig.add_scatter(
        x=pilot["week_start"],
        y=pilot["mean_resolution_hours_with_ai"].where(pilot["tickets_opened"] >= min_tickets),
        yaxis="y2",
        mode="lines",
        line={"dash": "dot", "color": WITH_AI},
        connectgaps=False,
        name=f"{t['res']} ({t['pilot']}, {t['with_ai']})",
    )
    return fig.update_layout(
        # overlaid, not grouped: a week has one period, so its bar takes the week's whole width
        barmode="overlay",
        bargap=0.15,
        yaxis={"title": t["tickets"]},
        yaxis2={"title": t["res"], "overlaying": "y", "side": "right", "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.2},
        height=440,
    )


def router(data: dict, t: dict) -> go.Figure:
    """The router's automation against precision, and where the product runs it."""
    s, curve = data["summary"], data["router_curve"]
    fig = go.Figure()
    if len(curve):
        fig.add_scatter(
            x=curve["coverage"], y=curve["precision"], mode="lines", name=t["precision"]
        )
    fig.add_scatter(
        x=[s["automation_rate"]],
        y=[s["auto_precision"]],
        mode="markers",
        marker={"size": 12},
        name=t["operating"],
    )
    # the label points at the marker from inside the plot area, so no edge clips it
    fig.add_annotation(
        x=s["automation_rate"],
        y=s["auto_precision"],
        text=t["operating"],
        showarrow=True,
        ax=-70,
        ay=40,
        xanchor="right",
    )
    return fig.update_layout(xaxis_title=t["coverage"], yaxis_title=t["precision"])


def forecast(data: dict, t: dict) -> go.Figure:
    fc = data["forecast"]
    fig = go.Figure()
    for column in ("actual", "model", "naive"):
        fig.add_scatter(x=fc["week_start"], y=fc[column], mode="lines+markers", name=t[column])
    return fig.update_layout(yaxis_title=t["units"])


def quality(data: dict, t: dict) -> go.Figure:
    q = data["quality"]
    fig = go.Figure(
        go.Bar(
            x=q["dimension"],
            y=q["score"],
            text=q["score"],
            textposition="outside",
            cliponaxis=False,
        )
    )
    return fig.update_layout(yaxis_title=t["score"], yaxis_range=[0, 105])
