#!/bin/sh
# A `consumer --exec` handler: raise an alert for a temperature over a threshold.
#
#   consumer alice --exec scripts/examples/alert.sh
#   ALERT_ABOVE=30 consumer alice --exec scripts/examples/alert.sh
#
# The consumer runs it once per message, with the message as one JSON line on stdin and its
# fields in MONSOON_FIELD_*; exit 0 acknowledges the message, anything else has it retried.
limit=${ALERT_ABOVE:-33}
t=${MONSOON_FIELD_TEMPERATURE:?no temperature field}
if awk -v t="$t" -v limit="$limit" 'BEGIN { exit !(t > limit) }'; then
  echo "ALERT $MONSOON_STREAM $MONSOON_ID temperature $t above $limit"
fi
