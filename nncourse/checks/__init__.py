"""The checks of every lesson: one module per notebook, named after it without its number.

A notebook's check cell is a call into its module, for example::

    # Checks for adagrad (2 points): help(checks.adagrad) lists what they verify
    from nncourse.checks import optimizers as checks
    checks.adagrad(adagrad)
    ### BEGIN HIDDEN TESTS
    checks.adagrad_hidden(adagrad)
    ### END HIDDEN TESTS

``checks.<exercise>(fn)`` runs the visible checks (small hand-computed cases, properties,
targeted messages); ``checks.<exercise>_hidden(fn)`` compares ``fn`` with the ``nnlib``
reference on generated cases whose seed comes from :func:`nncourse.testing.hidden_seed` (fixed
for a learner, drawn from a course secret when an instructor grades). Contract checks that many
exercises share (return arity, shapes, inputs modified in place, state keys, the injected rng,
the reference called instead of written) live once in :mod:`nncourse.checks._contract`; every
public check is wrapped by :func:`nncourse.checks._contract.exercise_check`.

These modules are the course's own: at grading time they are imported from the installed
environment, never from a submission's folder.
"""
