"""painxai: explainable CNNs for neonatal pain assessment from face images.

The library behind the ``painxai`` command line and the Streamlit dashboard. It never imports
Streamlit, and heavy packages (TensorFlow, MediaPipe) are imported only by the modules that need them.
"""

from painxai import dependencies as _dependencies

__version__ = "0.1.0"

# A runtime package missing from this environment is named, with what to install, not a bare traceback.
_dependencies.install()


def quiet_native_logs() -> None:
    """Keep TensorFlow's, absl's, glog's and LiteRT's log lines out of the terminal (users read them as
    errors); our own messages still show. See :mod:`painxai.native_logs`.

    Call it before TensorFlow is imported; a log level the user set already wins.
    """
    from painxai.native_logs import install

    install()
