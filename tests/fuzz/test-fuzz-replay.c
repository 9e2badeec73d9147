/* test-fuzz-replay.c — the fuzz targets as a regression test.
 *
 * Replays the committed seed corpora (tests/fuzz/corpus/TARGET/) and the
 * reproducers of fixed crashes (tests/fuzz/regressions/TARGET/) through the
 * same LLVMFuzzerTestOneInput() functions libFuzzer drives, plus a few
 * thousand deterministic mutations of each seed so that the decoders'
 * error paths run under plain `make check` and valgrind too. A property
 * violation aborts, as it does under the fuzzer.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"

/* Each target defines LLVMFuzzerTestOneInput(); give each its own name so
 * that all four link into one program. Their static helpers are prefixed
 * per target for the same reason. */
#define LLVMFuzzerTestOneInput fuzz_frame_one_input
#include "fuzz-frame.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_payload_one_input
#include "fuzz-payload.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_snappy_one_input
#include "fuzz-snappy.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_reader_one_input
#include "fuzz-reader.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_state_one_input
#include "fuzz-state.c"
#undef LLVMFuzzerTestOneInput

typedef int (*FuzzFunc) (const uint8_t *data, size_t size);

typedef struct {
  const char *name;
  FuzzFunc    func;
} Target;

static const Target targets[] = {
  { "frame", fuzz_frame_one_input },
  { "payload", fuzz_payload_one_input },
  { "snappy", fuzz_snappy_one_input },
  { "reader", fuzz_reader_one_input },
  { "state", fuzz_state_one_input },
};

#define MUTATIONS_PER_SEED 200

/* Runs @func on @data at its exact size in a heap block of its own, so
 * that valgrind/ASan catch any read past the end. */
static void
run_input (FuzzFunc func, const guint8 *data, gsize len)
{
  g_autofree guint8 *copy = g_memdup2 (data, len);

  func (copy != NULL ? copy : (const guint8 *) "", len);
}

static void
mutate_and_run (FuzzFunc func, const guint8 *seed, gsize len, GRand *rand)
{
  g_autofree guint8 *buf = g_malloc (len + 16);

  for (guint i = 0; i < MUTATIONS_PER_SEED; i++)
    {
      gsize n = len;

      memcpy (buf, seed, len);
      switch (g_rand_int_range (rand, 0, 4))
        {
        case 0:   /* flip bytes */
          for (guint f = 0; n > 0 && f < 3; f++)
            buf[g_rand_int_range (rand, 0, (gint32) n)] ^= (guint8) g_rand_int_range (rand, 1, 256);
          break;
        case 1:   /* truncate */
          n = n > 0 ? (gsize) g_rand_int_range (rand, 0, (gint32) n) : 0;
          break;
        case 2:   /* extend */
          for (guint e = 0; e < 16; e++)
            buf[n + e] = (guint8) g_rand_int_range (rand, 0, 256);
          n += (gsize) g_rand_int_range (rand, 1, 17);
          break;
        default:  /* interesting values at a random place */
          if (n > 0)
            {
              static const guint8 values[] = { 0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xfe, 0xff };

              buf[g_rand_int_range (rand, 0, (gint32) n)] = values[g_rand_int_range (rand, 0, G_N_ELEMENTS (values))];
            }
          break;
        }
      run_input (func, buf, n);
    }
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

static guint
replay_dir (const Target *target, const char *dir, gboolean mutate, GRand *rand)
{
  g_autoptr(GDir) d = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return 0;
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  /* Directory order varies between file systems; the mutations must not. */
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, g_ptr_array_index (names, i), NULL);
      g_autofree char *contents = NULL;
      gsize len = 0;
      g_autoptr(GError) error = NULL;

      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        continue;
      g_file_get_contents (path, &contents, &len, &error);
      g_assert_no_error (error);
      g_test_message ("%s: %s (%" G_GSIZE_FORMAT " bytes)", target->name, path, len);
      run_input (target->func, (const guint8 *) contents, len);
      if (mutate)
        mutate_and_run (target->func, (const guint8 *) contents, len, rand);
    }
  return names->len;
}

static void
test_replay (gconstpointer user_data)
{
  const Target *target = user_data;
  g_autofree char *corpus = g_test_build_filename (G_TEST_DIST, "fuzz", "corpus", target->name, NULL);
  g_autofree char *regressions = g_test_build_filename (G_TEST_DIST, "fuzz", "regressions", target->name, NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x6f55);
  guint seeds;

  seeds = replay_dir (target, corpus, TRUE, rand);
  g_assert_cmpuint (seeds, >, 0);
  replay_dir (target, regressions, FALSE, rand);

  /* The empty input, which no file system round trip distinguishes well. */
  run_input (target->func, NULL, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autofree char *path = g_strdup_printf ("/fuzz-replay/%s", targets[i].name);

      g_test_add_data_func (path, &targets[i], test_replay);
    }

  return g_test_run ();
}
