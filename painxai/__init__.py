"""painxai: explainable CNNs for neonatal pain assessment from face images.

The library behind the ``painxai`` command line and the Streamlit dashboard. It never imports
Streamlit, and heavy packages (TensorFlow, MediaPipe) are imported only by the modules that need them.
"""

__version__ = "0.1.0"
