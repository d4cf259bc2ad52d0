"""placeholder"""

import streamlit as st

from pages._shared import require_run

st.title("compare")
run = require_run()
