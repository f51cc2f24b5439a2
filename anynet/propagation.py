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


def forward(net, X):
    """Layer outputs (a1, ..., aL) for X of shape (n_samples, n_in)."""
    xp, a, outputs = net.xp, X, []
    for W, b, activation, _ in net.layers:
        z = a @ net[W]
        z += net[b]  # in place where the backend allows: one array less
        a = activation(xp, z)
        outputs.append(a)
    return tuple(outputs)


def predict(net, X):
    """The output layer's activations, keeping no intermediate outputs."""
    xp, a = net.xp, X
    for W, b, activation, _ in net.layers:
        z = a @ net[W]
        z += net[b]
        a = activation(xp, z)
    return a


def backward(net, outputs, X, Y):
    """Gradients {"dW1", "db1", ..., "dWL", "dbL"} of net.loss, for the layer
    ``outputs`` that ``forward(net, X)`` gave and targets Y of the output's shape."""
    xp = net.xp
    inputs = (X,) + outputs[:-1]  # the input of layer l is inputs[l - 1]
    delta = output_delta(xp, net.output_activation, net.loss, Y, outputs[-1])
    grads = {}
    for layer in range(net.n_layers - 1, -1, -1):  # last layer first
        W, b, _, _ = net.layers[layer]
        a_in = inputs[layer]
        grads["d" + W] = a_in.T @ delta
        grads["d" + b] = xp.sum(delta, axis=0, keepdims=True)
        if layer > 0:  # the error flowing into the previous layer, through its activation
            delta = net.layers[layer - 1][3](xp, a_in, delta @ net[W].T)
    return {"d" + k: grads["d" + k] for k in net}


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
