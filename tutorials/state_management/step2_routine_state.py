from routilux import Flow, Routine

class StatefulProcessor(Routine):
    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.process)
        self.output_event = self.define_event("output", ["result"])

    def process(self, data=None, **kwargs):
        data_value = data or kwargs.get("data", "")

        # Get execution context
        ctx = self.get_execution_context()
        if not ctx:
            return

        # Get current state
        current_state = ctx.job_state.get_routine_state(ctx.routine_id) or {}
        processed_count = current_state.get("processed_count", 0) + 1

        try:
            # Process data
            result = data_value.upper()

            # Update state in JobState
            ctx.job_state.update_routine_state(
                ctx.routine_id,
                {
                    "processed_count": processed_count,
                    "last_processed": data_value,
                    "last_result": result,
                    "status": "success",
                },
            )

            self.emit("output", result=result)

        except Exception as e:
            # Update error state in JobState
            error_count = current_state.get("error_count", 0) + 1
            ctx.job_state.update_routine_state(
                ctx.routine_id,
                {
                    "processed_count": processed_count,
                    "error_count": error_count,
                    "last_error": str(e),
                    "status": "error",
                },
            )
            raise

class DataSource(Routine):
    def __init__(self):
        super().__init__()
        self.trigger_slot = self.define_slot("trigger", handler=self.send)
        self.output_event = self.define_event("output", ["data"])

    def send(self, **kwargs):
        for item in ["hello", "world", "routilux"]:
            self.emit("output", data=item)

flow = Flow(flow_id="stateful_flow")

source = DataSource()
processor = StatefulProcessor()

source_id = flow.add_routine(source, "source")
processor_id = flow.add_routine(processor, "processor")

flow.connect(source_id, "output", processor_id, "input")

job_state = flow.execute(source_id)
flow.wait_for_completion(timeout=2.0)

# Check routine state
processor_state = job_state.get_routine_state(processor_id)
print(f"Processed: {processor_state.get('processed_count', 0)}")
print(f"Errors: {processor_state.get('error_count', 0)}")
print(f"Last processed: {processor_state.get('last_processed', 'none')}")
