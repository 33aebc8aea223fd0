"""Where the first layer's rows (the rows of its stored transpose, one per input) are cut: into the PARTS parts
whose sums a training step adds, and between the members of a team (kernels.team); and where each part's inputs
are kept (Work.inputs)."""

from .._compile import kernel
from . import CUT_ROWS, PARTS, SIZE


@kernel
def cut(n, part, n_parts):
    """Where part ``part`` of range(n) cut into ``n_parts`` starts: the even cut (share) moved to the nearest
    multiple of CUT_ROWS, and at most n - 1, so that the last part is never empty; 0 and n at the ends."""
    if part == 0:
        return 0
    if part == n_parts:
        return n
    return min(n - 1, (n * part // n_parts + CUT_ROWS // 2) // CUT_ROWS * CUT_ROWS)


@kernel
def member_rows(layout, member, n_members):
    """[k0, k1): the rows of the first layer's stored transpose that ``member`` of a team of ``n_members``
    updates, and so the columns of the inputs it gathers (those below n_in); cut at multiples of CUT_ROWS."""
    n = layout[0, SIZE] + 1
    return cut(n, member, n_members), cut(n, member + 1, n_members)


@kernel
def part_rows(layout, part):
    """[k0, k1): the rows of the first layer's stored transpose in part ``part`` of PARTS; the biases'
    row (n_in) is in the last part. A team of PARTS members updates these rows, one part each."""
    return member_rows(layout, part, PARTS)


@kernel
def input_row(inputs, part):
    """The row of Work.inputs where part ``part``'s inputs of the minibatch's first sample are: each part has its
    own rows, sample by sample, then a gap (kernels.input_shape), so that no two parts share a cache line or a page."""
    return part * (inputs.shape[0] // PARTS)
