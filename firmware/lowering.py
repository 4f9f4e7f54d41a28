"""GEMM and CONV2D commands, lowered to tiling plans (``tinynpu.firmware.tiling``).

CONV2D is a GEMM over the im2col matrix: row ``p`` is output pixel ``p`` (``batch``, ``y``, ``x``
in NHWC order), column ``(i * kernel_w + j) * in_c + c`` is channel ``c`` of the input pixel under
kernel tap ``(i, j)``; ``B`` is the HWIO weight tensor and ``C`` the NHWC output. The im2col
matrix is never built in memory: the firmware loads each block of it straight into the input
scratchpad's row slots with DMA transfers of up to four dimensions, one per run of kernel taps
and run of output rows (and images):

* along an output row, pixel ``x`` and pixel ``x + 1`` read input columns ``stride_w`` apart, so
  one transfer of ``stride_w * in_c`` source pitch fills consecutive slots;
* taps ``(i, j)`` and ``(i, j + 1)`` of a pixel are adjacent in the input, so for the pixels
  where a whole run of ``j`` is inside the input, one transfer moves the run;
* whole output rows ``y`` and ``y + 1`` of an image read input rows ``stride_h`` apart and fill
  slots ``out_w`` apart, so the same transfer repeats over them as planes, for the rows whose
  tap row ``i`` is inside the input; and whole images of a block repeat it again, as volumes;
* positions outside the input are not transferred: when the convolution pads, the block is first
  filled with the input zero point (a local FILL).
"""

from dataclasses import replace

from tinynpu.rtl.layouts import DmaKind, OutputType
from tinynpu.rtl.localmap import K_SLOT
from tinynpu.rtl.regmap import CP

from .tiling import Dma, Gemm, plan_gemm

__all__ = ["conv2d_plan", "gemm_plan"]

#: Bounds of the DMA command's third and fourth dimensions, from their registers.
_PLANE_PITCH_LIMIT = 1 << CP.dma_src_plane_pitch.bytes.width
_VOLUME_PITCH_LIMIT = 1 << CP.dma_src_volume_pitch.bytes.width
_MAX_PLANES = (1 << CP.dma_planes.count.width) - 1
_MAX_VOLUMES = (1 << CP.dma_volumes.count.width) - 1


def _element_bytes(output_type):
    return 4 if output_type is OutputType.INT32 else 1


def gemm_plan(geometry, cmd):
    """The plan of a checked GEMM command."""
    return plan_gemm(
        geometry,
        Gemm(
            m=cmd.m,
            k=cmd.k,
            n=cmd.n,
            a=cmd.a,
            b=cmd.b,
            c=cmd.c,
            params=cmd.params,
            lda=cmd.lda,
            ldb=cmd.ldb,
            ldc=cmd.ldc,
            output_type=cmd.output_type,
            zero_point=cmd.zero_point,
            act_min=cmd.act_min,
            act_max=cmd.act_max,
        ),
    )


def _ceil_div(a, b):
    return -(-a // b)


class _Im2col:
    """The DMA transfers that load rows of the im2col matrix of a CONV2D command."""

    def __init__(self, cmd):
        self.cmd = cmd
        c = cmd
        self.pads = (
            c.pad_top > 0
            or c.pad_left > 0
            or (c.out_h - 1) * c.stride_h - c.pad_top + c.kernel_h > c.in_h
            or (c.out_w - 1) * c.stride_w - c.pad_left + c.kernel_w > c.in_w
        )
        self.pattern = (c.input_zero_point & 0xFF) * 0x0101_0101

    def _columns(self, j):
        """Output columns ``x`` whose tap column ``j`` is inside the input: ``(lo, hi)``."""
        c = self.cmd
        lo = max(0, _ceil_div(c.pad_left - j, c.stride_w))
        hi = min(c.out_w - 1, (c.in_w - 1 + c.pad_left - j) // c.stride_w)
        return lo, hi

    def __call__(self, m0, rows, k0, k, dst):
        c = self.cmd
        channels = c.in_c
        commands = []
        if self.pads:
            commands.append(
                Dma(
                    DmaKind.FILL_LOCAL,
                    dst=dst,
                    row_bytes=k,
                    rows=rows,
                    dst_pitch=K_SLOT,
                    pattern=self.pattern,
                )
            )
        # Runs of taps (i, j0 .. j1) in this chunk; a partial tap (chunk edge) is a run alone.
        runs = []
        for tap in range(k0 // channels, (k0 + k - 1) // channels + 1):
            i, j = divmod(tap, c.kernel_w)
            c0 = max(k0, tap * channels) - tap * channels
            c1 = min(k0 + k, (tap + 1) * channels) - tap * channels
            whole = c0 == 0 and c1 == channels
            last = runs[-1] if runs else None
            if last and whole and last["whole"] and last["i"] == i and last["j1"] == j - 1:
                last["j1"] = j
            else:
                runs.append(
                    {
                        "i": i,
                        "j0": j,
                        "j1": j,
                        "c0": c0,
                        "c1": c1,
                        "whole": whole,
                        "offset": tap * channels + c0 - k0,
                    }
                )
        plane_pitch = c.stride_h * c.in_w * c.in_c
        volume_pitch = c.in_h * c.in_w * c.in_c
        image_slots = c.out_h * c.out_w
        for image, images, y0, y1, x0, x1, pixel in self._segments(m0, rows):
            pieces = [(image, images, y0, y1, pixel)]
            if images > 1 and volume_pitch >= _VOLUME_PITCH_LIMIT:  # images one by one
                pieces = [(image + i, 1, y0, y1, pixel + i * image_slots) for i in range(images)]
            if y1 > y0 and plane_pitch >= _PLANE_PITCH_LIMIT:  # rows one by one
                pieces = [
                    (first, count, y, y, start + (y - y0) * c.out_w)
                    for first, count, _, _, start in pieces
                    for y in range(y0, y1 + 1)
                ]
            for first_image, count, first_y, last_y, first_pixel in pieces:
                for run in runs:
                    # Output rows whose tap row i is inside the input: ya .. yb.
                    ya = max(first_y, _ceil_div(c.pad_top - run["i"], c.stride_h))
                    yb = min(last_y, (c.in_h - 1 + c.pad_top - run["i"]) // c.stride_h)
                    if ya > yb:
                        continue
                    iy = ya * c.stride_h - c.pad_top + run["i"]
                    row_dst = dst + (first_pixel + (ya - first_y) * c.out_w - m0 - x0) * K_SLOT
                    for cmd in self._row(run, first_image, iy, x0, x1, row_dst):
                        if yb > ya:
                            cmd = replace(
                                cmd,
                                planes=yb - ya + 1,
                                src_plane_pitch=plane_pitch,
                                dst_plane_pitch=c.out_w * K_SLOT,
                            )
                        if count > 1:
                            cmd = replace(
                                cmd,
                                volumes=count,
                                src_volume_pitch=volume_pitch,
                                dst_volume_pitch=image_slots * K_SLOT,
                            )
                        commands.append(cmd)
        return commands

    def _segments(self, m0, rows):
        """Pixels ``m0 .. m0 + rows - 1`` as runs of output rows of one image or more.

        Yields ``(image, images, y0, y1, x0, x1, pixel)``: rows ``y0 .. y1`` of images
        ``image ..`` (``images`` of them), columns ``x0 .. x1 - 1`` of each row, the first
        pixel's index ``pixel``. Several images are whole images, several rows whole rows; a
        block's first and last rows (and images) may be partial, each a run of its own.
        """
        c = self.cmd
        pixel, end = m0, m0 + rows
        image_pixels = c.out_h * c.out_w
        while pixel < end:
            image, rest = divmod(pixel, image_pixels)
            y, x0 = divmod(rest, c.out_w)
            if rest == 0 and end - pixel >= image_pixels and c.out_h <= _MAX_PLANES:
                count = min((end - pixel) // image_pixels, _MAX_VOLUMES)
                yield image, count, 0, c.out_h - 1, 0, c.out_w, pixel
                pixel += count * image_pixels
            elif x0 == 0 and end - pixel >= c.out_w:  # whole rows, to the image's last
                count = min((end - pixel) // c.out_w, c.out_h - y, _MAX_PLANES)
                yield image, 1, y, y + count - 1, 0, c.out_w, pixel
                pixel += count * c.out_w
            else:
                x1 = min(c.out_w, x0 + end - pixel)
                yield image, 1, y, y, x0, x1, pixel
                pixel += x1 - x0

    def _row(self, run, image, iy, x0, x1, row_dst):
        """Transfers of one run of taps for output columns ``x0 .. x1 - 1`` of one row."""
        c = self.cmd
        ranges = [self._columns(j) for j in range(run["j0"], run["j1"] + 1)]
        inner = (max(max(lo for lo, _ in ranges), x0), min(min(hi for _, hi in ranges), x1 - 1))
        pieces = []  # (first tap j, taps, first x, last x)
        if inner[0] <= inner[1]:
            pieces.append((run["j0"], len(ranges), *inner))
        # Where only some taps are inside the input: by tap, each tap's columns outside the
        # inner ones; or by column, each column's taps inside (a contiguous run of them), equal
        # runs of neighbouring columns merged. Whichever takes fewer transfers.
        by_tap = []
        for index, (lo, hi) in enumerate(ranges):
            lo, hi = max(lo, x0), min(hi, x1 - 1)
            if inner[0] <= inner[1]:
                spans = [(lo, min(hi, inner[0] - 1)), (max(lo, inner[1] + 1), hi)]
            else:
                spans = [(lo, hi)]
            by_tap += [(run["j0"] + index, 1, a, b) for a, b in spans if a <= b]
        by_column = []
        for x in range(x0, x1):
            if inner[0] <= x <= inner[1]:
                continue
            inside = [i for i, (lo, hi) in enumerate(ranges) if lo <= x <= hi]
            if not inside:
                continue
            j, taps = run["j0"] + inside[0], len(inside)
            if by_column and by_column[-1][:2] == (j, taps) and by_column[-1][3] == x - 1:
                by_column[-1] = (j, taps, by_column[-1][2], x)
            else:
                by_column.append((j, taps, x, x))
        pieces += min(by_tap, by_column, key=len)
        commands = []
        width = run["c1"] - run["c0"]
        for j, taps, first, last in pieces:
            ix = first * c.stride_w - c.pad_left + j
            src = c.input + ((image * c.in_h + iy) * c.in_w + ix) * c.in_c + run["c0"]
            offset = run["offset"] + (j - run["j0"]) * c.in_c
            commands.append(
                Dma(
                    DmaKind.LOAD,
                    src,
                    row_dst + first * K_SLOT + offset,
                    width + (taps - 1) * c.in_c,
                    last - first + 1,
                    c.stride_w * c.in_c,
                    K_SLOT,
                )
            )
        return commands


def conv2d_plan(geometry, cmd):
    """The plan of a checked CONV2D command."""
    out_bytes = _element_bytes(cmd.output_type)
    return plan_gemm(
        geometry,
        Gemm(
            m=cmd.batch * cmd.out_h * cmd.out_w,
            k=cmd.kernel_h * cmd.kernel_w * cmd.in_c,
            n=cmd.out_c,
            a=cmd.input,
            b=cmd.weights,
            c=cmd.output,
            params=cmd.params,
            lda=0,
            ldb=cmd.out_c,
            ldc=cmd.out_c * out_bytes,
            output_type=cmd.output_type,
            zero_point=cmd.zero_point,
            act_min=cmd.act_min,
            act_max=cmd.act_max,
            load_a=_Im2col(cmd),
        ),
    )
