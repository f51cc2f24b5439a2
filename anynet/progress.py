"""The progress bar of ``anynet.train``: one tick per epoch, with the latest figures."""
from tqdm.auto import tqdm


class Progress:
    """A tqdm bar over epochs showing loss, validation loss and metric; silent when disabled."""

    def __init__(self, epochs, metric_name, *, enabled=True, initial=0):
        self.metric_name = metric_name
        self.bar = tqdm(total=epochs, initial=initial, unit="epoch", desc="anynet",
                        disable=not enabled, dynamic_ncols=True, leave=True)

    def update(self, history):
        figures = {"loss": f"{history['loss'][-1]:.4g}"}
        if history["val_loss"][-1] is not None:
            figures["val_loss"] = f"{history['val_loss'][-1]:.4g}"
            figures["val_" + self.metric_name] = f"{history['val_metric'][-1]:.4f}"
        self.bar.set_postfix(figures, refresh=False)
        self.bar.update(1)

    def close(self):
        self.bar.close()
