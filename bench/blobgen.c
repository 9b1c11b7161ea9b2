/* blobgen: write one deterministic gzip'd tar layer, fast.
 *
 *   blobgen SEED SIZE OUT      -> prints "<sha256 of OUT> <bytes of OUT> <sha256 of the tar>"
 *
 * The tar holds one file of SIZE bytes whose content is a function of SEED only:
 * per 64 KiB, 48 KiB from a xoshiro256** stream and 16 KiB of text (so gzip -1
 * shrinks it a little, like real layers, and gunzip has real work to do).
 * gzip level 1, mtime 0: the same SEED and SIZE give the same bytes on every run.
 * Built by bench/run.sh with `cc -O2 blobgen.c -lz -lcrypto`. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint64_t s[4];
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next(void) {
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
  return r;
}

static FILE *out;
static z_stream zs;
static EVP_MD_CTX *h_gz, *h_tar;
static unsigned char zbuf[1 << 18];
static unsigned long long gz_bytes;

static void die(const char *m) { fprintf(stderr, "blobgen: %s\n", m); exit(1); }

static void emit(const void *p, size_t n, int flush) {
  EVP_DigestUpdate(h_tar, p, n);
  zs.next_in = (unsigned char *)p;
  zs.avail_in = (uInt)n;
  do {
    zs.next_out = zbuf;
    zs.avail_out = sizeof zbuf;
    int rc = deflate(&zs, flush);
    if (rc == Z_STREAM_ERROR) die("deflate failed");
    size_t have = sizeof zbuf - zs.avail_out;
    if (have && fwrite(zbuf, 1, have, out) != have) die("write failed");
    EVP_DigestUpdate(h_gz, zbuf, have);
    gz_bytes += have;
  } while (zs.avail_out == 0 || (flush == Z_FINISH && zs.avail_in));
}

static void hex(EVP_MD_CTX *c, char *o) {
  unsigned char d[32];
  unsigned n;
  EVP_DigestFinal_ex(c, d, &n);
  for (int i = 0; i < 32; i++) sprintf(o + 2 * i, "%02x", d[i]);
}

int main(int argc, char **argv) {
  if (argc != 4) die("usage: blobgen SEED SIZE OUT");
  const char *seed = argv[1];
  unsigned long long size = strtoull(argv[2], NULL, 10);
  /* Seed the generator from sha256(SEED). */
  unsigned char d[32];
  unsigned n;
  EVP_Digest(seed, strlen(seed), d, &n, EVP_sha256(), NULL);
  memcpy(s, d, 32);
  if (!(out = fopen(argv[3], "wb"))) die("cannot open output");
  h_gz = EVP_MD_CTX_new(); h_tar = EVP_MD_CTX_new();
  EVP_DigestInit_ex(h_gz, EVP_sha256(), NULL);
  EVP_DigestInit_ex(h_tar, EVP_sha256(), NULL);
  if (deflateInit2(&zs, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) die("deflateInit2");

  /* ustar header for "layer/<seed-hash>.bin". */
  unsigned char hdr[512] = {0};
  char name[100];
  snprintf(name, sizeof name, "layer/%02x%02x%02x%02x%02x%02x.bin", d[0], d[1], d[2], d[3], d[4], d[5]);
  memcpy(hdr, name, strlen(name));
  memcpy(hdr + 100, "0000644", 7);
  memcpy(hdr + 108, "0000000", 7);
  memcpy(hdr + 116, "0000000", 7);
  snprintf((char *)hdr + 124, 12, "%011llo", size);
  memcpy(hdr + 136, "00000000000", 11);
  memset(hdr + 148, ' ', 8);
  hdr[156] = '0';
  memcpy(hdr + 257, "ustar\0" "00", 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += hdr[i];
  snprintf((char *)hdr + 148, 8, "%06o", sum);
  hdr[155] = ' ';
  emit(hdr, 512, Z_NO_FLUSH);

  static uint64_t buf[8192]; /* 64 KiB */
  unsigned long long left = size, block = 0;
  while (left) {
    for (int i = 0; i < 6144; i++) buf[i] = next(); /* 48 KiB random */
    char *txt = (char *)(buf + 6144);
    size_t tl = 0;
    while (tl < 16384) {
      char line[96];
      int k = snprintf(line, sizeof line, "%s block %llu entry %zu /usr/lib/x86_64-linux-gnu/lib%llx.so\n",
                       seed, block, tl, (unsigned long long)(next() & 0xfff));
      size_t c = (size_t)k < 16384 - tl ? (size_t)k : 16384 - tl;
      memcpy(txt + tl, line, c);
      tl += c;
    }
    size_t take = left < sizeof buf ? (size_t)left : sizeof buf;
    emit(buf, take, Z_NO_FLUSH);
    left -= take;
    block++;
  }
  static unsigned char zero[1536];
  size_t pad = (size_t)((512 - size % 512) % 512) + 1024;
  emit(zero, pad, Z_FINISH);
  deflateEnd(&zs);
  if (fclose(out) != 0) die("close failed");
  char a[65], b[65];
  hex(h_gz, a);
  hex(h_tar, b);
  printf("%s %llu %s\n", a, gz_bytes, b);
  return 0;
}
