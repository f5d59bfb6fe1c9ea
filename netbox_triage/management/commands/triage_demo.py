from django.core.management.base import BaseCommand

from netbox_triage.demo import load_demo


class Command(BaseCommand):
    help = "Load the seed's 12-host infrastructure and the night's incident (idempotent)."

    def handle(self, *args, **options):
        result = load_demo()
        incident = result['incident']
        state = 'created' if result['incident_created'] else 'already present'
        self.stdout.write(f"{len(result['hosts'])} demo hosts ready; incident #{incident.pk} {state}: {incident}")
        self.stdout.write(f'Incident page: /plugins/triage/incidents/{incident.pk}/')
