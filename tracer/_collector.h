/* The cyclic collector's count, kept the program's: see _collector.c. */
#ifndef TRACER_COLLECTOR_H
#define TRACER_COLLECTOR_H

typedef struct {
    int enabled;  /* automatic collection on, as the program left it */
    int count;    /* the youngest generation's allocation count, as the program left it */
} CollectorState;

void collector_restart(void);
void collector_pause(CollectorState *saved);
void collector_resume(const CollectorState *saved, int may_schedule);

#endif
