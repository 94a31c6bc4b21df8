/*
 * pipeline/checks.h — the content checks moved to their own room, mover/checks/: this
 * header only forwards there until the pipeline includes "checks/checks.h" itself.
 */
#ifndef SLUICE_PIPELINE_CHECKS_H
#define SLUICE_PIPELINE_CHECKS_H

#include "checks/checks.h"

#endif /* SLUICE_PIPELINE_CHECKS_H */
