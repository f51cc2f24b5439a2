"""The arithmetic of a network: forward pass, backward pass, gradient step.

These are the tutorial's formulas for any depth, on checked arrays of the
network's backend and inside its device scope; they check nothing and move
nothing. The public functions of ``anynet.network`` (``forward_propagation``,
``backward_propagation``, ``update_parameters``, ``predict``), the training
loop and ``Network.predict`` call them after their checks.

``net`` is anything with the parameters as items (``net["W1"]``), ``net.xp``
and ``net.layers``: per layer the names of W and b and the activation's
(forward, backward) pair.
"""
from .losses import output_delta


def forward(net, X, keep=None):
    """Layer outputs (a1, ..., aL) for X of shape (n_samples, n_in).

    ``keep``: None, or dropout's multipliers, one array per hidden layer of
    shape (n_samples, its size) holding 0 (dropped) or 1 / (1 - rate) (inverted
    dropout: the expected input of the next layer is unchanged, so predicting
    needs no rescaling). The outputs are kept *before* the mask: the
    activations' derivatives are taken from them.
    """
    xp, a, outputs = net.xp, X, []
    for layer, (W, b, activation, _) in enumerate(net.layers):
        z = a @ net[W]
        z += net[b]  # in place where the backend allows: one array less
        a = activation(xp, z)
        outputs.append(a)
        if keep is not None and layer < len(keep):
            a = a * keep[layer]
    return tuple(outputs)


def predict(net, X):
    """The output layer's activations, keeping no intermediate outputs."""
    xp, a = net.xp, X
    for W, b, activation, _ in net.layers:
        z = a @ net[W]
        z += net[b]
        a = activation(xp, z)
    return a


def backward(net, outputs, X, Y, w=None, keep=None):
    """Gradients {"dW1", "db1", ..., "dWL", "dbL"} of net.loss, for the layer
    ``outputs`` that ``forward(net, X, keep)`` gave and targets Y of the output's
    shape; ``w``: the loss's sample weights (see ``anynet.losses``); ``keep``:
    the dropout multipliers the forward pass used."""
    xp = net.xp
    if keep is None:  # the input of layer l is inputs[l - 1]
        inputs = (X,) + outputs[:-1]
    else:  # what the next layer saw: the masked outputs
        inputs = (X,) + tuple(a * k for a, k in zip(outputs[:-1], keep))
    delta = output_delta(xp, net.output_activation, net.loss, Y, outputs[-1], w)
    grads = {}
    for layer in range(net.n_layers - 1, -1, -1):  # last layer first
        W, b, _, _ = net.layers[layer]
        a_in = inputs[layer]
        grads["d" + W] = a_in.T @ delta
        grads["d" + b] = xp.sum(delta, axis=0, keepdims=True)
        if layer > 0:  # the error flowing into the previous layer, through its activation
            upstream = delta @ net[W].T
            if keep is not None:  # dropped units pass no error back
                upstream = upstream * keep[layer - 1]
            delta = net.layers[layer - 1][3](xp, outputs[layer - 1], upstream)
    return {"d" + k: grads["d" + k] for k in net}


def add_weight_penalty(net, grads, coefficient):
    """Add the gradient of ``coefficient / 2 * sum ||W||^2`` (the weights, not the
    biases: scikit-learn's ``alpha``) to ``grads``; return the penalty itself."""
    xp, penalty = net.xp, 0.0
    for W, _, _, _ in net.layers:
        w = net[W]
        penalty = penalty + xp.sum(w * w)
        grads["d" + W] = grads["d" + W] + coefficient * w
    return 0.5 * coefficient * penalty


def update(net, grads, learning_rate, in_place=True):
    """Plain gradient descent: p -= learning_rate * dp for every parameter."""
    for key in net:
        p = net[key]
        if in_place:  # no new parameter array; on JAX this rebinds p to a new one
            p -= learning_rate * grads["d" + key]
        else:  # read-only arrays (a NumPy view of a file, say) are replaced instead
            p = p - learning_rate * grads["d" + key]
        net[key] = p
    return net
