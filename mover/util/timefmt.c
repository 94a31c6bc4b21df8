/*
 * timefmt.c — dates from and to day numbers with Howard Hinnant's civil-calendar
 * algorithms ("chrono-Compatible Low-Level Date Algorithms"), so nothing depends on
 * timegm or the process's time zone.
 */
#include "util/timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t sl_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool sl_time_format(int64_t ms, char out[SL_TIME_TEXT_LEN + 1])
{
    if (ms < 0 || ms > SL_TIME_MAX_MS) return false;
    int64_t y;
    unsigned m, d;
    civil_from_days(ms / 86400000, &y, &m, &d);
    unsigned in_day = (unsigned)(ms % 86400000);
    char buf[64]; /* room for any value the compiler imagines */
    snprintf(buf, sizeof(buf), "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y, m, d, in_day / 3600000,
             in_day / 60000 % 60, in_day / 1000 % 60, in_day % 1000);
    memcpy(out, buf, SL_TIME_TEXT_LEN + 1);
    return true;
}

static bool digits(const uint8_t *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* YYYY-MM-DDTHH:MM:SS at s (19 bytes, checked by the caller) → ms of that second. */
static bool date_time(const uint8_t *s, int64_t *ms)
{
    unsigned y, mo, d, h, mi, sec;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return false;
    static const unsigned month_days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] + (mo == 2 && leap)) return false;
    if (h > 23 || mi > 59 || sec > 59) return false;
    *ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000;
    return true;
}

bool sl_time_parse(sl_cursor text, int64_t *ms)
{
    const uint8_t *s = text.ptr;
    unsigned frac;
    int64_t v;
    if (text.len != SL_TIME_TEXT_LEN || s[19] != '.' || s[23] != 'Z' || !digits(s + 20, 3, &frac) || !date_time(s, &v))
        return false;
    *ms = v + frac;
    return true;
}

bool sl_time_parse_s3(sl_cursor text, int64_t *ms)
{
    const uint8_t *s = text.ptr;
    int64_t v;
    if (text.len < 20 || s[text.len - 1] != 'Z' || !date_time(s, &v)) return false;
    size_t rest = text.len - 20; /* between the seconds and the Z */
    unsigned frac = 0;
    if (rest > 0) {
        if (s[19] != '.' || rest < 2) return false;
        for (size_t i = 20; i < text.len - 1; i++)
            if (s[i] < '0' || s[i] > '9') return false;
        size_t n = rest - 1 < 3 ? rest - 1 : 3;
        (void)digits(s + 20, n, &frac);
        for (size_t i = n; i < 3; i++) frac *= 10;
    } else if (s[19] != 'Z') {
        return false;
    }
    *ms = v + frac;
    return true;
}
