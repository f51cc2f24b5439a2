"""``plot_history``: the loss curves of a training run as a PNG (needs matplotlib)."""


def plot_history(history, path):
    """Write the training (and validation) loss and metric per epoch to an image file.

    Parameters
    ----------
    history : dict or Network
        ``network.history`` from ``anynet.train``, or the network itself.
    path : str or os.PathLike
        Where to write the figure; the format follows the suffix (``.png``).

    Returns
    -------
    path
    """
    history = getattr(history, "history", history)
    if not isinstance(history, dict) or not history.get("loss"):
        raise ValueError("history must be the non-empty history of anynet.train "
                         "(network.history)")
    try:
        # the object API draws off-screen without pyplot: the process's backend (a
        # notebook's, say) is left as it is
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot_history needs matplotlib; pip install matplotlib") from exc
    epochs = range(1, len(history["loss"]) + 1)
    has_val = any(v is not None for v in history.get("val_loss", []))
    fig = Figure(figsize=(10 if has_val else 5, 3.6))
    axes = fig.subplots(1, 2 if has_val else 1, squeeze=False)
    ax = axes[0][0]
    ax.plot(epochs, history["loss"], label="training loss")
    if has_val:
        ax.plot(epochs, history["val_loss"], label="validation loss")
        metric = history.get("metric", "metric")
        axes[0][1].plot(epochs, history["val_metric"], color="tab:green")
        axes[0][1].set(xlabel="epoch", ylabel=f"validation {metric}",
                       title=f"validation {metric}")
    ax.set(xlabel="epoch", ylabel="loss", title="loss")
    if min(history["loss"]) > 0:
        ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
