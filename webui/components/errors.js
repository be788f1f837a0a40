// errors: error codes in words, one table for every page.  The codes stay
// in the API for scripts; people read these titles with the message after
// them.  Job codes are runtime/jobs' error codes (the job, group and
// compare pages); a deployment's error is its message, and its title comes
// from the step that failed (deploy/deploy.c: connect, copy, unpack, test,
// preview), as deploy_<step>.
export const ERROR_TITLE = {
	toolchain_unavailable: 'The toolchain is not installed',
	step_failed: 'A step failed',
	missing_output: 'A tool did not write its output',
	timeout: 'A step ran out of time',
	inputs: 'The inputs could not be read',
	interrupted: 'kilnd stopped during the job',
	plan_invalid: 'The plan was refused',
	bundle_failed: 'The bundle could not be packed',
	below_tolerance: 'Below the tolerance',
	cancelled: 'Cancelled',
	deploy_connect: 'Could not reach the board',
	deploy_copy: 'The bundle could not be copied to the board',
	deploy_unpack: 'The bundle could not be unpacked on the board',
	deploy_test: 'The test program failed on the board',
	deploy_preview: 'The preview could not be made',
	deploy_failed: 'The deployment failed',
};

// A deployment record's error code: deploy_<the first failed step>.
export function deploymentErrorCode(d) {
	const failed = (d.steps || []).find((x) => x.state === 'failed' && x.name !== 'cleanup');
	return failed && ERROR_TITLE[`deploy_${failed.name}`] ? `deploy_${failed.name}` : 'deploy_failed';
}

// A deployment's error as "title: message" (its message alone is the
// error the API gives: text, not an object).
export function deploymentError(d) {
	if (!d.error) return '';
	const msg = typeof d.error === 'string' ? d.error : d.error.message || '';
	return `${ERROR_TITLE[deploymentErrorCode(d)]}: ${msg}`;
}
