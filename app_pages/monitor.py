"""Monitor (bedside): a newborn followed over time, from a live camera or an uploaded video (docs/MONITOR.md).

Each processed frame passes the input gate; each model's fold-ensemble probability is smoothed over time into a
pain / no-pain state with hysteresis, and an alert is raised when the state stays pain long enough. Pick a
moment to see that frame's Grad-CAM maps with their trust badges. Frames and the video live only in this
browser session's memory (the upload widget, ``st.session_state``, the camera callback): never written to
disk, logged, or shared with another session.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import streamlit as st

from app_pages._shared import MAP_WIDTH, colour_legend, ensembles, require_run, show_badge
from painxai.dashboard import trust
from painxai.errors import PainxaiError
from painxai.explain import display
from painxai.inference import photo_report
from painxai.inference.assess import AssessRequest, assess_photo
from painxai.monitor.session import DEFAULT_RATE, MonitorSession, follow_video
from painxai.monitor.summary import SessionSummary, summary_pdf, timeline_csv, timeline_figure
from painxai.monitor.timeline import Settings
from painxai.monitor.video import Video

KEEP_S = 120.0  # seconds of processed frames kept in memory to explain a moment (about 70 MB at 320x240, 5/s)
VIDEO_TYPES = ["mp4", "avi", "webm", "mov"]

st.title("Monitor")
st.warning(photo_report.NOTICE, icon=":material/medical_information:")
run = require_run()
provenance = trust.provenance_line(run)
st.caption(provenance)

models = st.multiselect("Models", run.models(), default=run.models(), key="monitor_models")
with st.expander("Smoothing and alerts"):
    columns = st.columns(5)
    tau = columns[0].number_input("Smoothing (s)", 0.5, 30.0, 2.0, 0.5, key="monitor_tau",
                                  help="Time constant of the exponential moving average.")
    on = columns[1].slider("Pain from", 0.5, 0.95, 0.6, 0.05, key="monitor_on")
    off = columns[2].slider("No pain below", 0.05, 0.5, 0.4, 0.05, key="monitor_off")
    alert_after = columns[3].number_input("Alert after (s)", 0.0, 60.0, 3.0, 0.5, key="monitor_alert_after")
    rate = columns[4].number_input("Frames per second", 1.0, 15.0, DEFAULT_RATE, 1.0, key="monitor_rate",
                                   help="At most this many frames are processed per second; more are skipped.")
settings = Settings(tau_s=tau, on=on, off=off, alert_after_s=alert_after)
if not models:
    st.info("Choose at least one model.", icon=":material/info:")
    st.stop()

source = st.radio("Source", ["Upload a video", "Live camera"], horizontal=True, key="monitor_source")


def draw_box(image: np.ndarray, box: tuple[float, float, float, float] | None) -> np.ndarray:
    """A copy of ``image`` with the face box drawn (green), or the image as it is without a box."""
    import cv2

    if box is None:
        return image
    shown = image.copy()
    x0, y0, x1, y1 = (round(v) for v in box)
    cv2.rectangle(shown, (x0, y0), (x1, y1), (0, 200, 0), max(1, image.shape[1] // 200))
    return shown


def alert_banner(session: MonitorSession, where: st.delta_generator.DeltaGenerator | None = None) -> None:
    """A red banner while an alert is on, the alerts so far in one line otherwise."""
    target = where or st
    active = session.alerts[-1] if session.alerts and session.alerts[-1].ongoing else None
    if active is not None:
        models_in_pain = ", ".join(active.models) or "-"
        target.error(f"ALERT: pain since {active.start_s:.1f} s (raised at {active.raised_s:.1f} s; peak "
                     f"{active.peak:.2f}; models in pain: {models_in_pain})", icon=":material/warning:")
    elif session.alerts:
        spans = ", ".join(f"{a.start_s:.1f}-{a.end_s:.1f} s" for a in session.alerts)
        target.warning(f"{len(session.alerts)} alert(s), now ended: {spans}", icon=":material/history:")
    else:
        target.success("No alert", icon=":material/check_circle:")


def explain_moment(session: MonitorSession) -> None:
    """Pick a moment of the kept frames; show that frame with its box and, on request, its maps and badges."""
    kept = session.kept_times()
    if not kept:
        return
    st.subheader("Explain a moment")
    scored = [t for t in kept if session.frame_at(t).box is not None]
    moment = st.select_slider("Moment (s)", kept, value=(scored or kept)[-1], format_func=lambda t: f"{t:.1f}",
                              key="monitor_moment", help="The last scored frame first; frames kept in memory only.")
    frame = session.frame_at(moment)
    if frame is None:
        return
    st.image(draw_box(frame.image, frame.box), caption=f"{frame.time_s:.1f} s", width=MAP_WIDTH)
    if frame.box is None:
        st.caption("This frame was not scored: no usable face (the input gate).")
        return
    if not st.button("Show this frame's maps", key="monitor_explain", icon=":material/visibility:"):
        return
    from painxai.faces.crop import crop_face

    started = time.perf_counter()
    try:
        # Every fold: live footage is nobody's training data.
        request = AssessRequest(models=tuple(session.ensembles), folds="all", box=frame.box)
        assessment = assess_photo(frame.image, run, request, ensembles=session.ensembles)
    except PainxaiError as error:
        st.error(str(error), icon=":material/error:")
        return
    face, _ = crop_face(frame.image, frame.box, 320)
    maps = {name: display.resize_map(v.mean_map, (320, 320)) for name, v in assessment.models.items()}
    entries, problem = trust.audit_entries(run.path)
    vmaxes, scale_note = display.model_scales(maps, "reference", trust.reference_scales(entries))
    with st.container(horizontal=True):
        for name, heatmap in maps.items():
            with st.container(width=MAP_WIDTH, gap="xxsmall"):
                verdict = assessment.models[name]
                st.image(display.overlay(face, heatmap, vmaxes[name]),
                         caption=f"{name} · P(pain) {verdict.prob_mean:.0%} ± {verdict.prob_std:.0%}", width="stretch")
                show_badge(trust.badge(name, entries))
    colour_legend(display.DEFAULT_CMAP, None)
    if problem:
        st.warning(problem)
    st.caption(f"Grad-CAM, fold mean, all folds (live footage is nobody's training data); colour scale: "
               f"{scale_note}; {time.perf_counter() - started:.1f} s for {len(maps)} maps.")


def downloads(session: MonitorSession, source_name: str) -> None:
    """The session summary: the timeline as CSV and a PDF with provenance."""
    summary = SessionSummary(session.timeline(), list(session.alerts), session.settings, source_name, run.name,
                             run.provenance().describe(), session.frames_processed, session.frames_scored)
    with st.container(horizontal=True):
        st.download_button("Timeline (CSV)", timeline_csv(summary.timeline), "timeline.csv", "text/csv",
                           icon=":material/download:", key="monitor_csv")
        st.download_button("Summary (PDF)", summary_pdf(summary), "monitor_summary.pdf", "application/pdf",
                           icon=":material/picture_as_pdf:", key="monitor_pdf")


def show_session(session: MonitorSession) -> None:
    """Timeline chart, alert banner, the moment picker and the downloads."""
    alert_banner(session)
    st.plotly_chart(timeline_figure(session.timeline(), settings, session.alerts), key="monitor_timeline")
    st.caption(f"{session.frames_processed} frames processed, {session.frames_scored} with a usable face scored. "
               f"Black: the models' mean, smoothed; its state turns pain at {settings.on:g} and back at "
               f"{settings.off:g}. {provenance}.")


if source == "Upload a video":
    upload = st.file_uploader("Video", type=VIDEO_TYPES, key="monitor_upload",
                              help="An mp4, avi, webm or mov video of up to 1920 x 1080; it stays in memory.")
    if upload is None:
        st.stop()
    data = upload.getvalue()
    request = (hashlib.sha256(data).hexdigest(), tuple(models), settings, rate)
    stored = st.session_state.get("monitor_result")
    if stored is None or stored[0] != request:
        loaded = ensembles(run, models)
        session = MonitorSession(loaded, settings, keep_s=KEEP_S)
        live = st.empty()  # the display while the video is followed, cleared when it is done
        with live.container():
            banner, picture, chart = st.empty(), st.empty(), st.empty()
        shown = {"at": 0.0}

        def on_frame(result: object) -> None:
            """Refresh the live display about once a second of wall time (drawing costs more than a frame)."""
            now = time.perf_counter()
            if now - shown["at"] < 1.0:
                return
            shown["at"] = now
            alert_banner(session, banner)
            kept = session.frame_at(result.time_s)
            if kept is not None:
                picture.image(draw_box(kept.image, kept.box), caption=f"{kept.time_s:.1f} s", width=MAP_WIDTH)
            chart.plotly_chart(timeline_figure(session.timeline(), settings, session.alerts), key=f"live_{now}")

        try:
            with Video(data, name=upload.name) as video, st.spinner(f"Following {upload.name}…", show_time=True):
                summary = follow_video(video, session, rate=rate, realtime=False, on_frame=on_frame)
        except PainxaiError as error:
            st.error(str(error), icon=":material/error:")
            st.stop()
        live.empty()
        st.session_state["monitor_result"] = (request, session, summary.line())
    _, session, line = st.session_state["monitor_result"]
    st.caption(line.capitalize() + ".")
    show_session(session)
    explain_moment(session)
    downloads(session, upload.name)
else:
    from painxai.monitor.live import LiveMonitor

    live_key = (tuple(models), settings, rate)
    if st.session_state.get("monitor_live_key") != live_key:
        st.session_state["monitor_live"] = LiveMonitor(MonitorSession(ensembles(run, models), settings, keep_s=KEEP_S),
                                                       rate=rate)
        st.session_state["monitor_live_key"] = live_key
    monitor: LiveMonitor = st.session_state["monitor_live"]
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    webrtc_streamer(
        key="monitor_camera", mode=WebRtcMode.SENDRECV, video_frame_callback=monitor.callback,
        media_stream_constraints={"video": True, "audio": False},
        rtc_configuration={"iceServers": []},  # no STUN server: the app makes no network calls
    )
    paused = st.toggle("Pause", key="monitor_pause", help="Stop updating the display to pick a moment.")

    @st.fragment(run_every=None if paused else 0.5)
    def live_view() -> None:
        with monitor.lock:
            session = monitor.session
            if session.frames_processed:
                show_session(session)
                recent = monitor.latency_s[-50:]
                st.caption(f"Camera frame to probability: median {np.median(recent):.2f} s, at most "
                           f"{max(recent):.2f} s over the last {len(recent)} processed frames; {monitor.frames} "
                           f"frames received, {session.frames_processed} processed.")
            else:
                st.caption("Waiting for the camera: press START and allow the camera.")
        if monitor.error:
            st.error(monitor.error, icon=":material/error:")

    live_view()
    if paused:
        with monitor.lock:
            explain_moment(monitor.session)
            if monitor.session.frames_processed:
                downloads(monitor.session, "live camera")
