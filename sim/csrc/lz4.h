/* The two LZ4 block-compression entry points that Verilator's FST writer calls.
 *
 * Used only where the system has no LZ4 development files; see lz4_store.c. The declarations
 * match the LZ4 library's own, so the FST writer compiles unchanged against either.
 */
#ifndef TINYNPU_LZ4_H
#define TINYNPU_LZ4_H

#ifdef __cplusplus
extern "C" {
#endif

#define LZ4_MAX_INPUT_SIZE 0x7E000000

int LZ4_compressBound(int inputSize);
int LZ4_compress_default(const char *src, char *dst, int srcSize, int dstCapacity);

#ifdef __cplusplus
}
#endif

#endif
