/* A store-only LZ4 block encoder: every input becomes one literal run.
 *
 * A block holding a single sequence of literals and no match is a valid LZ4 block, so any LZ4
 * decoder (GTKWave, Surfer, liblz4) reads what this writes. It does not compress: waveforms are
 * larger than with liblz4, and no system package is needed to write them.
 */
#include <string.h>

#include "lz4.h"

int LZ4_compressBound(int inputSize)
{
    if (inputSize < 0 || inputSize > LZ4_MAX_INPUT_SIZE)
        return 0;
    return inputSize + inputSize / 255 + 16;
}

int LZ4_compress_default(const char *src, char *dst, int srcSize, int dstCapacity)
{
    unsigned char *out = (unsigned char *)dst;
    int extra = srcSize >= 15 ? (srcSize - 15) / 255 + 1 : 0;
    int rest;

    if (srcSize < 0 || srcSize > LZ4_MAX_INPUT_SIZE || 1 + extra + srcSize > dstCapacity)
        return 0;
    /* Token: the literal length in the high nibble (15 means "more bytes follow"). */
    if (srcSize < 15) {
        *out++ = (unsigned char)(srcSize << 4);
    } else {
        *out++ = 0xF0;
        for (rest = srcSize - 15; rest >= 255; rest -= 255)
            *out++ = 255;
        *out++ = (unsigned char)rest;
    }
    memcpy(out, src, (size_t)srcSize);
    return (int)(out - (unsigned char *)dst) + srcSize;
}
