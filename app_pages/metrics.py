"""Metrics: Table 2, per-fold scores, ROC, confusion, epochs, training curves, calibration and statistics."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app_pages._shared import require_run
from painxai.dashboard import figures, run_choice, tables, trust
from painxai.errors import PainxaiError
from painxai.evaluation.metrics import calibration_curve, confusion
from painxai.evaluation.report import (
    DEFINITIONS_TEXT,
    METRIC_LABELS,
    PAPER_METRIC_LABELS,
    PAPER_TABLE2,
    build_report,
)
from painxai.evaluation.stats import paper_claim_verdict
from painxai.labels import PAIN_THRESHOLD


@st.cache_resource(max_entries=4, show_spinner=False)
def _report(path: str, signature: tuple[str, ...]):
    """The run's report (numbers only, no images), rebuilt when a fold finishes."""
    return build_report(path)


def _csv_button(frame, name: str, key: str) -> None:
    st.download_button("Download CSV", frame.to_csv(index=False), file_name=name, mime="text/csv", key=key)


st.title("Metrics")
run = require_run()
st.caption(trust.provenance_line(run))
path = str(run.path)
report, problem = None, ""
with st.spinner("Computing the report…"):
    try:
        report = _report(path, run_choice.run_signature(path))
    except PainxaiError as error:
        problem = str(error)
if report is None:  # st.stop() outside the spinner: inside it, the spinner would never be cleared
    st.info(f"Nothing to report yet: {problem}")
    st.stop()
for note in report.notes:
    if "in progress" in note:
        st.warning(note)

st.header("Table 2: mean ± std over folds")
if st.toggle("Show the paper's numbers beside ours", key="paper_toggle"):
    # Compared under the paper's definitions: under ours the same classifier reads a higher AUC and a lower F1.
    ours = tables.table2_display(report.table2_paper)
    ours.index = [PAPER_METRIC_LABELS.get(m, m) for m in ours.index]
    paper = tables.paper_table2_display(PAPER_TABLE2)
    paper.index = [PAPER_METRIC_LABELS.get(m, m) for m in paper.index]
    unlike = trust.paper_comparison_warning(run)
    if unlike:
        st.warning(unlike, icon=":material/compare_arrows:")
    st.dataframe(tables.table2_side_by_side(ours, paper), width="stretch")
    st.caption(
        "Paper: Coutrin & Thomaz (2022), 10 folds on the real UNIFESP + iCOPE images. Both columns use "
        f"{DEFINITIONS_TEXT['table2_paper_definitions']}; turn the toggle off for the standard definitions."
    )
    shown, shown_name = report.table2_paper, "table2_paper_definitions.csv"
else:
    ours = tables.table2_display(report.table2)
    ours.index = [METRIC_LABELS.get(m, m) for m in ours.index]
    st.dataframe(ours, width="stretch")
    st.caption(f"Ours, {DEFINITIONS_TEXT['table2']}; the paper's definitions differ (toggle above).")
    shown, shown_name = report.table2, "table2.csv"
st.caption(" · ".join(f"{m}: {p} folds" for m, p in report.progress().items()))
_csv_button(shown.reset_index(), shown_name, "csv_table2")

st.header("Per fold")
st.dataframe(report.per_fold, hide_index=True, width="stretch")
_csv_button(report.per_fold, "per_fold.csv", "csv_per_fold")
metric = st.selectbox("Metric", ["accuracy", "f1", "auc", "epochs", "brier", "ece"], key="box_metric")
st.plotly_chart(
    px.box(report.per_fold, x="model", y=metric, points="all", hover_data=["fold"], height=360), key="box_chart"
)

predictions = run.predictions()
models = report.models
st.header("ROC curves and confusion matrices")
for tab, model in zip(st.tabs(models), models, strict=True):
    with tab:
        left, right = st.columns([2, 1])
        curves = tables.fold_roc_curves(predictions, model)
        if curves:
            left.plotly_chart(figures.roc_figure(curves, f"{model}: each fold and the mean"), key=f"roc_{model}")
        else:
            left.info("No fold has both classes in its test set: no ROC curve.")
        pooled = predictions[predictions["model"] == model]
        counts = confusion(pooled["label"].to_numpy(), pooled["prob_pain"].to_numpy(dtype=float))
        right.plotly_chart(figures.confusion_figure(counts, f"all folds, threshold {PAIN_THRESHOLD}"),
                           key=f"confusion_{model}")
_csv_button(predictions, "predictions.csv", "csv_predictions")

st.header("Epochs and training curves")
fold_metrics = run.fold_metrics()
epoch_columns = [c for c in ("epochs_phase1", "epochs_phase2") if c in fold_metrics]
if epoch_columns:
    long = fold_metrics.melt(
        id_vars=["model", "fold"], value_vars=epoch_columns, var_name="phase", value_name="epochs of phase"
    )
    st.plotly_chart(
        px.bar(long, x="fold", y="epochs of phase", color="phase", facet_col="model", facet_col_wrap=3, height=420),
        key="epochs_chart",
    )
left, right = st.columns(2)
curve_model = left.selectbox("Model", models, key="history_model")
curve_fold = right.selectbox("Fold", run.finished_folds(curve_model), key="history_fold")
history = run.history(curve_model, curve_fold)
st.plotly_chart(figures.history_figure(history, f"{curve_model}, fold {curve_fold}"), key="history_chart")
_csv_button(history, f"history_{curve_model}_fold{curve_fold}.csv", "csv_history")

st.header("Calibration")
curves = {
    model: calibration_curve(rows["label"].to_numpy(), rows["prob_pain"].to_numpy(dtype=float))
    for model, rows in predictions.groupby("model", sort=False)
}
st.plotly_chart(figures.calibration_figure(curves), key="calibration_chart")
st.dataframe(report.calibration, width="stretch")
_csv_button(report.calibration.reset_index(), "calibration.csv", "csv_calibration")

st.header("Statistics")
scope = st.radio(
    "Models compared", ["every model of the run", "the four pretrained models (the paper's claim)"],
    horizontal=True, key="stat_scope",
)
pretrained_only = scope != "every model of the run"
compared, skipped = (
    (report.statistics_pretrained, report.statistics_pretrained_skipped) if pretrained_only
    else (report.statistics, report.statistics_skipped)
)
if not compared:
    st.info("; ".join(skipped.values()) or "Not enough finished folds to compare models.")
    st.stop()
stat_metric = st.selectbox("Metric", list(compared), key="stat_metric")
comparison = compared[stat_metric]
st.warning(comparison.caveat)
if pretrained_only:
    st.markdown(paper_claim_verdict(comparison))
if comparison.friedman_p is not None:
    st.markdown(
        f"Friedman χ² = {comparison.friedman_statistic:.2f}, p = {comparison.friedman_p:.3g} "
        f"({len(comparison.models)} models, {len(comparison.folds)} folds)."
    )
    diagram = comparison.cd_diagram()
    st.plotly_chart(
        figures.critical_difference_figure(diagram["ranks"], diagram["cd"], diagram["cliques"]), key="cd_chart"
    )
    st.markdown("Nemenyi post-hoc p-values")
    st.dataframe(comparison.nemenyi_p, width="stretch")
for reason in comparison.skipped:
    st.info(reason)
st.markdown("Pairwise Wilcoxon signed-rank, Holm-corrected")
st.dataframe(comparison.wilcoxon, hide_index=True, width="stretch")
_csv_button(comparison.wilcoxon, f"wilcoxon_{stat_metric}.csv", "csv_wilcoxon")
st.markdown("Corrected resampled t-test (Nadeau & Bengio)")
st.dataframe(comparison.corrected_t, hide_index=True, width="stretch")
_csv_button(comparison.corrected_t, f"corrected_t_{stat_metric}.csv", "csv_corrected_t")
