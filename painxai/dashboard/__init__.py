"""The dashboard's logic without Streamlit: run choice, tables, figures, the comparison grid."""
