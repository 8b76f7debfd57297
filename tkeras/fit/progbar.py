"""`Progbar` (`keras.utils.Progbar`): Keras's progress bar.

Same look as Keras 3: `32/32 ━━━━━━━━━━━━━━━━━━━━ 1s 2ms/step - accuracy: 0.9062 - loss: 0.2345`,
ETA while running, one line per epoch with `verbose=2`. Deliberate difference: the bar is
redrawn in place (`\\r`, ANSI colours) only on a terminal or in a notebook; elsewhere (logs,
pipes, CI) `verbose=1` prints just the final line of each bar, in plain text.
`due(current)` tells a caller whether `update` would redraw, so it can skip computing values.
"""

import math
import os
import re
import sys
import time

import numpy as np

from tkeras.core.registry import keras_export


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _interactive():
    return (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()) or "ipykernel" in sys.modules \
        or "PYCHARM_HOSTED" in os.environ


def _format_value(avg):
    return f" {avg:.4f}" if abs(avg) > 1e-3 else f" {avg:.4e}"


@keras_export("keras.utils.Progbar")
class Progbar:
    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 stateless_metrics=None, unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be "
                             "provided.")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        if stateless_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = None, set(stateless_metrics)
        else:
            self.stateful_metrics = set(stateful_metrics or ())
            self.stateless_metrics = None
        self._dynamic_display = _interactive()
        self._seen_so_far = 0
        self._values = {}
        self._values_order = []
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def due(self, current):
        """Whether `update(current)` would print (so values are worth computing)."""
        if self.verbose != 1 or not self._dynamic_display:
            return False
        return time.time() - self._last_update >= self.interval

    def _is_stateless(self, k):
        if self.stateful_metrics is not None:
            return k not in self.stateful_metrics
        return k in self.stateless_metrics

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = False if self.target is None else current >= self.target
        for k, v in values or []:
            if k not in self._values_order:
                self._values_order.append(k)
            if self._is_stateless(k):
                if finalize:
                    self._values[k] = [v, 1]
                else:
                    base = max(current - self._seen_so_far, 1)
                    if k not in self._values:
                        self._values[k] = [v * base, base]
                    else:
                        self._values[k][0] += v * base
                        self._values[k][1] += base
            else:
                self._values[k] = [v, 1]
        self._seen_so_far = current
        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            if not self._dynamic_display and not finalize:
                return
            self._print_bar(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target:
            numdigits = int(math.log10(self.target)) + 1
            info = f"%{numdigits}d/%d" % (current, self.target)
            info += f" - {now - self._start:.0f}s -{self._format_time(time_per_unit)}"
            info += self._metrics_text()
            sys.stdout.write(info + "\n")
            sys.stdout.flush()
        self._last_update = now

    def _metrics_text(self):
        info = ""
        for k in self._values_order:
            info += f" - {k}:"
            value = self._values[k]
            total, count = value
            if not isinstance(total, float):
                total = float(np.mean(total))
            info += _format_value(total / max(1, count))
        return info

    def _print_bar(self, current, now, time_per_unit, finalize):
        dynamic = self._dynamic_display
        bold = (lambda s: f"\x1b[1m{s}\x1b[0m") if dynamic else (lambda s: s)
        if self.target is not None and self.target > 0:
            numdigits = int(math.log10(self.target)) + 1
            count = f"%{numdigits}d/%d" % (current, self.target)
            filled = int(self.width * float(current) / self.target)
            if dynamic:
                bar = (bold(count) + " " + (f"\33[32m{'━' * filled}\x1b[0m" if filled else "")
                       + f"\33[37m{'━' * (self.width - filled)}\x1b[0m")
            else:
                bar = count + " " + "━" * self.width
        else:
            bar = "%7d/Unknown" % current
        if self.target is not None and self.target > 0 and not finalize:
            eta = time_per_unit * (self.target - current)
            if eta > 3600:
                eta_text = "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
            elif eta > 60:
                eta_text = "%d:%02d" % (eta // 60, eta % 60)
            else:
                eta_text = "%ds" % eta
        else:
            eta_text = f"{now - self._start:.0f}s"
        info = " " + bold(eta_text) + self._format_time(time_per_unit) + self._metrics_text()
        visible = len(_ANSI.sub("", bar + info))
        message = ("\b" * self._prev_total_width + "\r") if dynamic else ""
        message += bar + info
        if dynamic and self._prev_total_width > visible:
            message += " " * (self._prev_total_width - visible)
        if finalize or not dynamic:
            message += "\n"
        sys.stdout.write(message)
        sys.stdout.flush()
        self._prev_total_width = visible

    def add(self, n, values=None):
        self.update(self._seen_so_far + n, values)

    def _format_time(self, time_per_unit):
        if time_per_unit >= 1 or time_per_unit == 0:
            return f" {time_per_unit:.0f}s/{self.unit_name}"
        if time_per_unit >= 1e-3:
            return f" {time_per_unit * 1e3:.0f}ms/{self.unit_name}"
        return f" {time_per_unit * 1e6:.0f}us/{self.unit_name}"

    def _estimate_step_duration(self, current, now):
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit
