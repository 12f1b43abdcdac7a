/*
 * outcome.h - what tlsrpt-milter does with a report mail at end of message.
 */
#ifndef TM_OUTCOME_H
#define TM_OUTCOME_H

#include "msgctx.h"

/* Finish decoding m, count the report in st and act on the mail (discard,
   remove report recipients, tag, or deliver with an error status). Logs one
   line. Returns the libmilter status for xxfi_eom; never SMFIS_REJECT. Does
   not reset m. */
sfsistat tm_outcome(SMFICTX *ctx, tm_msg *m, const tm_config *cfg, tlsrpt_store *st);

#endif
