"""The course's furniture, beside the library: everything that exists only because of the lessons.

- :mod:`nncourse.checks` holds the checks of each lesson (one module per notebook);
- :mod:`nncourse.testing` the grading helpers those checks are built from;
- :mod:`nncourse.widgets` the interactive experiments;
- :mod:`nncourse.check` the ``nnlib-check`` command a learner runs on a notebook.

It imports :mod:`nnlib`; :mod:`nnlib` never imports it, so the library stays free of pedagogy.
"""
