"""painxai: explainable CNNs for neonatal pain assessment from face images.

The library behind the ``painxai`` command line and the Streamlit dashboard. It never imports
Streamlit, and heavy packages (TensorFlow, MediaPipe) are imported only by the modules that need them.
"""

import os

__version__ = "0.1.0"


def quiet_native_logs() -> None:
    """Hide TensorFlow's C++ info and warning lines (users read them as errors).

    Call it before TensorFlow is imported; a value the user set already wins.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
