"""Sans-I/O codecs: text and bytes in, packets out, and back. No sockets, no clocks, no gevent."""
