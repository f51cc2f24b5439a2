"""Hyperparameters of optimizers and schedules, read back from their constructors.

As scikit-learn's ``get_params``: every argument of ``__init__`` is kept as an
attribute of the same name, so an object can be shown (``Adam(beta1=0.9, ...)``),
saved and rebuilt from its constructor's arguments alone.
"""
import inspect


def constructor_arguments(obj):
    """{argument: value} for every named argument of ``type(obj).__init__``.

    Raises
    ------
    ValueError
        An argument is not kept as an attribute of the same name.
    """
    arguments = {}
    for name, parameter in inspect.signature(type(obj).__init__).parameters.items():
        if name == "self":
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            stars = "*" if parameter.kind == parameter.VAR_POSITIONAL else "**"
            raise ValueError(f"{type(obj).__name__}.__init__ takes {stars}{name}: the "
                             f"arguments it passes on cannot be read back; name each one")
        if not hasattr(obj, name):
            raise ValueError(f"{type(obj).__name__} keeps no attribute {name!r} for its "
                             f"constructor argument {name!r}; keep every argument as an "
                             f"attribute of the same name")
        arguments[name] = getattr(obj, name)
    return arguments


def arguments_repr(obj):
    """``Name(a=1, b=2)`` from the constructor's arguments (the plain repr if unreadable)."""
    try:
        arguments = constructor_arguments(obj)
    except ValueError:
        return object.__repr__(obj)
    inside = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return f"{type(obj).__name__}({inside})"
