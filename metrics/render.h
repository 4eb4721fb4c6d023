/*
 * render: moatctl stats' formats, and the metrics listener's page.
 */
#ifndef MOAT_RENDER_H
#define MOAT_RENDER_H

#include <stdio.h>

#include "counters.h"

void	stats_text(FILE *, const struct ctr_view *);
void	stats_json(FILE *, const struct ctr_view *);
/* OpenMetrics text exposition 1.0, ending with "# EOF". */
void	stats_openmetrics(FILE *, const struct ctr_view *);

#endif
