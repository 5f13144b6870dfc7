#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bin2c.py IN OUT: the flat payload as a C array (toyvmm_payload[]).
import sys

data = open(sys.argv[1], 'rb').read()
with open(sys.argv[2], 'w') as f:
    f.write('/* Generated from %s by bin2c.py. */\n' % sys.argv[1].split('/')[-1])
    f.write('const unsigned char toyvmm_payload[] = {\n')
    for i in range(0, len(data), 12):
        f.write('\t' + ', '.join('0x%02x' % b for b in data[i:i + 12]) + ',\n')
    f.write('};\n')
    f.write('const unsigned long toyvmm_payload_size = %d;\n' % len(data))
