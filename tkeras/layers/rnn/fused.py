"""Fused recurrent kernels: `torch._VF.lstm/gru/rnn_tanh/rnn_relu` (what `nn.LSTM` & co. run,
cuDNN on GPU) on weights converted from Keras's layout at call time.

Layouts (Keras -> torch): LSTM gates i, f, c, o are torch's i, f, g, o: `weight_ih = kernel.T`,
`bias_ih = bias`, `bias_hh = 0`. GRU gates z, r, h become torch's r, z, n (reset_after=True only:
bias row 0 is the input bias, row 1 the recurrent bias). SimpleRNN: `weight_ih = kernel.T`.

Masks: the fused kernel runs packed sequences, so it handles masks whose valid steps form one
block at the start of every row (right padding) or at the end of every row (left padding, which
is what `go_backwards` makes of right padding); any other mask returns None and the caller
loops the cell. The results follow Keras's masked-loop rules (see `rnn.rnn_loop`).
"""

import torch
from torch.nn.utils.rnn import pack_padded_sequence
from torch.nn.utils.rnn import pad_packed_sequence

KERNELS = {"lstm": torch._VF.lstm, "gru": torch._VF.gru, "rnn_tanh": torch._VF.rnn_tanh,
            "rnn_relu": torch._VF.rnn_relu}


def lstm_params(kernel, recurrent_kernel, bias):
    if bias is None:
        return [kernel.t(), recurrent_kernel.t()]
    return [kernel.t(), recurrent_kernel.t(), bias, torch.zeros_like(bias)]


def _gru_gates(weight, units):
    """Keras's z, r, h column blocks of `weight` as torch's r, z, n blocks (one copy of
    contiguous rows; a 2-D weight is then transposed to torch's `(3 * units, rows)`, a view)."""
    weight = torch.cat([weight[..., units:2 * units], weight[..., :units],
                        weight[..., 2 * units:]], dim=-1)
    return weight.t() if weight.dim() == 2 else weight


def gru_params(kernel, recurrent_kernel, bias):
    units = recurrent_kernel.shape[0]
    params = [_gru_gates(kernel, units), _gru_gates(recurrent_kernel, units)]
    if bias is not None:
        params += [_gru_gates(bias[0], units), _gru_gates(bias[1], units)]
    return params


def simple_rnn_params(kernel, recurrent_kernel, bias):
    if bias is None:
        return [kernel.t(), recurrent_kernel.t()]
    return [kernel.t(), recurrent_kernel.t(), bias, torch.zeros_like(bias)]


def _padding_kind(mask):
    """'right', 'left' or None (any other layout) for a (batch, time) boolean mask."""
    steps = mask.shape[1]
    lengths = mask.sum(dim=1, keepdim=True)
    positions = torch.arange(steps, device=mask.device).unsqueeze(0)
    if torch.equal(mask, positions < lengths):
        return "right"
    if torch.equal(mask, positions >= steps - lengths):
        return "left"
    return None


def _roll_rows(x, shifts):
    """Row b of the result is row b of `x` rolled left by `shifts[b]` along time."""
    steps = x.shape[1]
    index = (torch.arange(steps, device=x.device).unsqueeze(0) + shifts.unsqueeze(1)) % steps
    index = index.reshape(index.shape + (1,) * (x.ndim - 2)).expand_as(x)
    return x.gather(1, index)


def run_fused(kind, x, states, params, mask=None, go_backwards=False,
              zero_output_for_mask=False):
    """Run one fused recurrent layer. `x` is `(batch, time, features)`; `states` is `[h]`
    (`[h, c]` for LSTM), each `(batch, units)`. Returns `(last_output, outputs, new_states)`
    in Keras's processed order, or None when the mask layout needs the generic loop."""
    fn = KERNELS[kind]
    has_biases = len(params) == 4
    train = torch.is_grad_enabled()
    if go_backwards:
        x = torch.flip(x, [1])
        mask = torch.flip(mask, [1]) if mask is not None else None
    hx = [s.unsqueeze(0) for s in states]
    hx_arg = tuple(hx) if kind == "lstm" else hx[0]

    if mask is None:
        result = fn(x, hx_arg, params, has_biases, 1, 0.0, train, False, True)
        outputs, new_states = result[0], [s.squeeze(0) for s in result[1:]]
        return outputs[:, -1], outputs, new_states

    if torch.compiler.is_compiling():
        return None  # the layout check and packing need host syncs
    padding = _padding_kind(mask)
    if padding is None:
        return None
    steps = x.shape[1]
    lengths = mask.sum(dim=1)
    if padding == "left":
        x = _roll_rows(x, steps - lengths)
    packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True,
                                  enforce_sorted=False)
    hx_sorted = [h.index_select(1, packed.sorted_indices) for h in hx]
    hx_arg = tuple(hx_sorted) if kind == "lstm" else hx_sorted[0]
    result = fn(packed.data, packed.batch_sizes, hx_arg, params, has_biases, 1, 0.0, train,
                False)
    out_packed = packed._replace(data=result[0])
    outputs, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=steps)
    new_states = [s.squeeze(0).index_select(0, packed.unsorted_indices) for s in result[1:]]
    # Rows with no valid step keep their initial states (the kernel ran one step on them).
    valid = (lengths > 0).unsqueeze(1)
    new_states = [torch.where(valid, n, s) for n, s in zip(new_states, states)]
    m = mask.unsqueeze(-1)
    if padding == "left":
        outputs = _roll_rows(outputs, lengths - steps)
        fill = torch.zeros_like(outputs)
    elif zero_output_for_mask:
        fill = torch.zeros_like(outputs)
    else:  # masked steps repeat the last valid output (zeros when there is none)
        fill = torch.where(valid, new_states[0], torch.zeros_like(new_states[0])).unsqueeze(1)
    outputs = torch.where(m, outputs, fill)
    return outputs[:, -1], outputs, new_states
