// The service being called by the outbound benchmarks: answers every request with a small JSON
// body, as cheaply as node:http allows, so that the client side dominates what is measured.
import { createServer } from 'node:http';
import { reportReady } from '../support/processes.mjs';

const body = JSON.stringify({ ok: true });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
// The cold burst opens up to 1000 connections at once; the default backlog (511) would make
// some of them wait for a SYN retransmit and blur the burst's timing.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  reportReady(`http://127.0.0.1:${server.address().port}`);
});
