"""Compiled kernels: arrays in, results written into arrays passed in; no validation, no allocation.

Shared argument bundles (plain named tuples, which Numba passes by value):

- ``Net(params, layout, row_blocks)``: the flat parameter vector (each layer's theta stored transposed,
  see fastmlp._layout), the ``(n_layers + 1, 4)`` table of layer size, parameter offset, activation
  offset and the stored transpose's row stride, and the ``(n_blocks, 3)`` table of ``(layer, first_row,
  n_rows)`` blocks of ROW_BLOCK rows of the stored transposes that ``backward.gradients`` shares out
  between threads.
- ``Work(acts, outputs, deltas, losses, grads, lecture, parts, pack, inputs, one)``: the buffers a model allocates once:
  per sample of a minibatch the activation and delta rows (at least n_units wide; the model pads them to
  whole cache lines, _layout.aligned_rows), the output layer's scratch (``output_rows``
  values a sample, flat) and the loss; the gradient; the hidden layers' weight matrices in the lecture's
  order, shaped like ``params`` (backward.lecture_copy); and the PARTS parts of the first layer's sums
  that a training step adds (PARTS x ``part_size``, flat: part p's sums of sample i from
  ``p * (parts.size // PARTS) + i * units``; team.first_layer_part); and one row per thread that computes
  gradients, each the copy of activations that its weight gradients read (``threads x
  (microkernel.pack_size(itemsize) + GAP_BYTES // itemsize)``; backward.row_gradient); and the inputs of
  a training step's minibatch by part, for the team's kernels (``_layout.input_rows``: part p's inputs of sample i in
  row ``parts.input_row(inputs, p) + i``, from the part's first row of the first layer on). The activation rows'
  input columns are for prediction and loss_and_gradients. ``one`` holds a single 1 in the parameters' dtype: the
  biases' input, which the biases' gradient multiplies (backward.row_gradient).
- ``Optimizer(kind, first, second, step, learning_rate, momentum, weight_decay, nesterov, beta_1, beta_2,
  epsilon)``: the update rule (``SGD`` or ``ADAM``), its state and its settings. ``first`` is SGD's
  velocity or Adam's first moment, ``second`` Adam's second moment (may be empty for SGD), both shaped
  like ``params``; ``step`` is int64[1], the updates made so far; the scalars are in the parameters' dtype.
"""

from collections import namedtuple

Net = namedtuple("Net", ["params", "layout", "row_blocks"])
Work = namedtuple("Work", ["acts", "outputs", "deltas", "losses", "grads", "lecture", "parts", "pack", "inputs",
                           "one"])
Optimizer = namedtuple(
    "Optimizer",
    ["kind", "first", "second", "step", "learning_rate", "momentum", "weight_decay", "nesterov", "beta_1", "beta_2",
     "epsilon"],
)


#: Parts of the first layer's sum over its inputs in a training step, at fixed rows (team.first_layer_part).
PARTS = 2
#: Rows of the first layer's stored transpose that its cuts between members fall at multiples of: 16 inputs fill
#: a 64-byte line in float32 and two in float64, so that no line of a sample's inputs (in buffers of whole lines,
#: _layout.row_width) is written by two members at once. 784-100-10 float32 on two threads, six alternating
#: process pairs, median samples/s with the cut at 400 in rows of whole lines against the even cut (392) in rows
#: of 894 units: batch 32 394k / 346k, batch 128 426k / 392k, batch 512 443k / 411k; ten more pairs on the host
#: busier: batch 32 250k / 246k, batch 128 295k / 262k.
CUT_ROWS = 16
#: (parts.cut)
#: Bytes left free after each thread's region of a work buffer that threads share (a part of Work.parts, a
#: row of Work.pack). A core that streams up its region to the end has its hardware prefetcher run on into the
#: next region, which another core is writing at that moment, and the lines pass back and forth between the
#: cores. 784-100-10 float32 batch 32 on two Zen 3 threads, cycles per sample of the member whose part comes
#: second against the first's: forward 2973-3017 / 2824-2870 with adjacent parts, 2828-2873 / 2784-2866 with
#: this gap; the epoch 355-365k samples/s against 332-349k.
GAP_BYTES = 32768


def part_size(batch, units, itemsize):
    """Elements of each of Work.parts' PARTS parts: ``batch`` samples' sums for the first layer's ``units``,
    then GAP_BYTES."""
    return batch * units + GAP_BYTES // itemsize


def output_rows(n_out):
    """Values of Work.outputs per sample for a network of ``n_out`` outputs: z, yhat, the target, three
    values of scratch and the sample's weight (activations.block_loss_and_delta)."""
    return 3 * n_out + 4


# Columns of ``Net.layout``: layer l's units, where its stored transpose starts in ``params``, where its units
# start in an activation row, and the elements from one row of its stored transpose to the next (at least the
# next layer's SIZE; the last layer's is 0).
SIZE, THETA, UNIT, LEAD = 0, 1, 2, 3
# ``Optimizer.kind``.
SGD, ADAM = 0, 1
OPTIMIZERS = {"sgd": SGD, "adam": ADAM}

# ``codes``, the int64 array (loss, output, hidden activation) the kernels take. Defined here, where
# nothing imports Numba, so that a model can name them and still predict without Numba.
MSE, SIGMOID_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY = 0, 1, 2
LOSSES = {"mse": MSE, "sigmoid_cross_entropy": SIGMOID_CROSS_ENTROPY, "softmax_cross_entropy": SOFTMAX_CROSS_ENTROPY}
IDENTITY, SIGMOID, SOFTMAX = 0, 1, 2
OUTPUTS = {"identity": IDENTITY, "sigmoid": SIGMOID, "softmax": SOFTMAX}
LOGISTIC, TANH, RELU, HIDDEN_IDENTITY = 0, 1, 2, 3
#: Hidden layers' activations by scikit-learn's names; "logistic" is the lecture's sigmoid.
HIDDEN_ACTIVATIONS = {"logistic": LOGISTIC, "tanh": TANH, "relu": RELU, "identity": HIDDEN_IDENTITY}

#: Rows of a stored transpose per block of ``backward.gradients``, the parallel gradient of
#: ``loss_and_gradients``. Work may be cut between threads anywhere: every value is one fixed sequence
#: of operations whichever thread and whichever range computes it (microkernel.gemm), so results do
#: not depend on the cuts.
ROW_BLOCK = 64
