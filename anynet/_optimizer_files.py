"""What a file records of an optimizer (``anynet.save``, checkpoints), and back.

An optimizer is described by its registered name (or "module:QualName" for a
subclass of ``anynet.optimizers.Optimizer``), its constructor's arguments and
its step count; its state arrays are written beside the parameters. L-BFGS
(``anynet.quasi_newton.LBFGS``) is written by name and settings alone: its run
is not carried over (each run starts its memory anew).
"""
import math
import numbers

from ._description import is_count, is_finite_number
from .optimizers import OPTIMIZERS, Optimizer
from .quasi_newton import LBFGS


def _name(optimizer):
    """The registered name, or "module:QualName" for another Optimizer subclass."""
    cls = type(optimizer)
    registered = [k for k, c in OPTIMIZERS.items() if c is cls]
    return registered[0] if registered else f"{cls.__module__}:{cls.__qualname__}"


def describe(optimizer, params):
    """(description, state arrays) of ``optimizer`` for a file.

    The description is JSON: {"name", "settings" (the constructor's arguments),
    "t"}; the state arrays are named "<state name>.<parameter>".

    Raises
    ------
    ValueError
        Naming the optimizer when it cannot be written faithfully: a constructor
        argument it does not keep, a setting that is not a number, string, bool
        or None, or state arrays that do not mirror the parameters.
    """
    what = f"optimizer {_name(optimizer)}"
    try:
        settings = optimizer.hyperparameters()
    except ValueError as exc:
        raise ValueError(f"cannot save the {what}: {exc}") from None
    for key, value in settings.items():
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            settings[key] = value = int(value)  # NumPy's integers and floats too
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            settings[key] = value = float(value)
        if not (value is None or isinstance(value, (bool, int, str))
                or isinstance(value, float) and math.isfinite(value)):
            raise ValueError(f"cannot save the {what}: its setting {key}={value!r} is not a "
                             f"finite number, a string, a bool or None")
    if isinstance(optimizer, LBFGS):  # its hyperparameters only
        return {"name": _name(optimizer), "settings": settings, "t": 0}, {}
    names = tuple(optimizer.state_names)
    if optimizer.t and set(optimizer.state) != set(names):
        raise ValueError(f"cannot save the {what}: its state holds {sorted(optimizer.state)} "
                         f"but its state_names are {list(names)}")
    arrays = {}
    for name in names if optimizer.t else ():
        for key, p in params.items():
            value = optimizer.state[name].get(key)
            if value is None or tuple(value.shape) != tuple(p.shape):
                raise ValueError(f"cannot save the {what}: state[{name!r}][{key!r}] does "
                                 f"not mirror the parameter {key} of shape {tuple(p.shape)}")
            arrays[f"{name}.{key}"] = value
    return {"name": _name(optimizer), "settings": settings, "t": optimizer.t}, arrays


def rebuild(description, template=None):
    """An optimizer (or L-BFGS), without state arrays, from a file's ``description``.

    A built-in optimizer is made from its name. Another subclass must be the
    class of ``template`` (a checkpoint's run) or one already imported here: a
    file never makes anynet import a module. Its step count ``t`` is set; the
    caller reads the state arrays (``state_names``) if ``t > 0``.

    Raises
    ------
    ValueError
        The description is malformed or names an optimizer not available here.
    """
    if not isinstance(description, dict) or not isinstance(description.get("name"), str):
        raise ValueError("its optimizer description has no name")
    name, settings, t = description["name"], description.get("settings", {}), \
        description.get("t")
    cls = OPTIMIZERS.get(name) or _subclass(name, template)
    if cls is None:
        raise ValueError(f"its optimizer is {name}, a class not imported here; import the "
                         f"module that defines it before loading")
    if not is_count(t):
        raise ValueError(f"its optimizer's step count t={str(t)[:40]} is not a step count")
    if not isinstance(settings, dict) or not all(
            v is None or isinstance(v, (bool, str)) or is_finite_number(v)
            for v in settings.values()):
        raise ValueError(f"its optimizer settings {str(settings)[:80]} are not finite "
                         f"numbers, strings, bools or None")
    try:
        optimizer = cls(**settings)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"its optimizer settings do not make a {name}: {exc}") from None
    if isinstance(optimizer, Optimizer):
        optimizer.t = t
    return optimizer


def _subclass(name, template):
    if template is not None and _name(template) == name:
        return type(template)
    pending, seen = [Optimizer], set()
    while pending:  # every subclass imported so far, at any depth
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
                if f"{sub.__module__}:{sub.__qualname__}" == name:
                    return sub
    return None
