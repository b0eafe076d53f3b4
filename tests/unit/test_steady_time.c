/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's steady clock (common/util.c skr_steady_advance, the rule
 * behind skr_steady_time): the wall clock is stepped forward and back by the
 * test, with the monotonic clock running as it would.  The real clocks are
 * exercised by tests/attack/test_broker_clock_jump.sh; this pins the rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/util.h"

#define S 1000000000LL
#define T0 (1700000000LL * S) /* a wall clock reading, in ns */

static void first_reading_is_the_wall_clock(void **state)
{
	struct skr_steady s = { 0 };

	(void)state;
	assert_int_equal(skr_steady_advance(&s, T0 + S / 2, 5 * S), 1700000000);
}

static void time_passing_follows_the_wall_clock(void **state)
{
	struct skr_steady s = { 0 };

	(void)state;
	skr_steady_advance(&s, T0, 5 * S);
	assert_int_equal(skr_steady_advance(&s, T0 + 10 * S, 15 * S), 1700000010);
	assert_int_equal(skr_steady_advance(&s, T0 + 11 * S, 16 * S), 1700000011);
}

static void forward_step_is_followed_at_once(void **state)
{
	struct skr_steady s = { 0 };

	(void)state;
	skr_steady_advance(&s, T0, 5 * S);
	/* The wall clock jumps an hour ahead while one second passes. */
	assert_int_equal(skr_steady_advance(&s, T0 + 3601 * S, 6 * S), 1700003601);
	/* and then runs on from there */
	assert_int_equal(skr_steady_advance(&s, T0 + 3602 * S, 7 * S), 1700003602);
}

static void backward_step_never_goes_back(void **state)
{
	struct skr_steady s = { 0 };

	(void)state;
	skr_steady_advance(&s, T0, 5 * S);
	/* The wall clock is set an hour back one second later: the value keeps
	 * running on the monotonic clock instead. */
	assert_int_equal(skr_steady_advance(&s, T0 - 3599 * S, 6 * S), 1700000001);
	assert_int_equal(skr_steady_advance(&s, T0 - 3590 * S, 15 * S), 1700000010);
	/* Still behind: the monotonic run wins ... */
	assert_int_equal(skr_steady_advance(&s, T0 + 100 * S, 3715 * S), 1700003710);
	/* ... until the wall clock has caught up with it; then it is followed. */
	assert_int_equal(skr_steady_advance(&s, T0 + 4000 * S, 3716 * S), 1700004000);
}

static void repeated_backward_steps_do_not_accumulate(void **state)
{
	struct skr_steady s = { 0 };
	int64_t prev, now;

	(void)state;
	prev = skr_steady_advance(&s, T0, 0);
	/* Every second the wall clock is set back by ten seconds from where it
	 * was: the steady time advances by exactly the second that passed. */
	for (int i = 1; i <= 20; i++) {
		now = skr_steady_advance(&s, T0 - 10LL * i * S, (int64_t)i * S);
		assert_int_equal(now, prev + 1);
		prev = now;
	}
}

static void real_clock_never_decreases(void **state)
{
	int64_t prev = skr_steady_time(), now;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		now = skr_steady_time();
		assert_true(now >= prev);
		prev = now;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_reading_is_the_wall_clock),
		cmocka_unit_test(time_passing_follows_the_wall_clock),
		cmocka_unit_test(forward_step_is_followed_at_once),
		cmocka_unit_test(backward_step_never_goes_back),
		cmocka_unit_test(repeated_backward_steps_do_not_accumulate),
		cmocka_unit_test(real_clock_never_decreases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
