# Makes the tab's static files importable as tb_filters.frontend (see setup.py).
