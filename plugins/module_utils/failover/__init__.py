# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failover of a streaming replica set: WAL positions (`lsn`), reading both servers and deciding
(`decision`), promoting the standby and measuring the switch and the data lost (`promotion`)."""
