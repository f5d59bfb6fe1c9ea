"""The seed's application services the rescue finds open: an anonymous Jenkins on fe-3.

The SSH fleet only answers the probe; the discovery rules' active HTTP check needs a real service to
talk to. This one answers like a Jenkins with no security realm (the seed's "Jenkins open without a
password"): the script console and the JSON API to anyone. It listens on fe-3's loopback address only.
"""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ('AnonymousJenkins', 'start_seed_web')

logger = logging.getLogger('netbox_triage.fleet')

JENKINS_VERSION = '2.332.3'
SCRIPT_PAGE = (b'<!DOCTYPE html><html><head><title>Script Console [Jenkins]</title></head><body>'
               b'<h1>Script Console</h1><p>Type in an arbitrary Groovy script and execute it on the server.</p>'
               b'<textarea name="script"></textarea></body></html>')


class AnonymousJenkins(BaseHTTPRequestHandler):
    server_version = 'Jetty(9.4.45.v20220203)'

    def do_GET(self):
        if self.path.startswith('/script'):
            body, content_type = SCRIPT_PAGE, 'text/html;charset=utf-8'
        elif self.path.startswith('/api/json'):
            body = json.dumps({'_class': 'hudson.model.Hudson', 'mode': 'NORMAL', 'useSecurity': False,
                               'jobs': [{'name': 'deploy-checkout', 'color': 'red'}]}).encode()
            content_type = 'application/json;charset=utf-8'
        else:
            body, content_type = b'<html><body>Dashboard [Jenkins]</body></html>', 'text/html;charset=utf-8'
        self.send_response(200)
        self.send_header('X-Jenkins', JENKINS_VERSION)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        logger.info('jenkins %s: %s', self.client_address[0], format % args)


def start_seed_web(hosts):
    """Start the seed's web services for the fleet hosts that have them; returns the servers (call shutdown())."""
    servers = []
    for host in hosts:
        if host.profile == 'ubuntu2204-jenkins':
            server = ThreadingHTTPServer((host.address, 8080), AnonymousJenkins)
            threading.Thread(target=server.serve_forever, name=f'jenkins-{host.name}', daemon=True).start()
            logger.info('anonymous Jenkins of %s on %s:8080', host.name, host.address)
            servers.append(server)
    return servers
