-- The treatment deliveries of a window of Dose_Hst.Tx_DtTm (Mosaiq local time), one row per
-- delivery with its field, patient and MRN, site and setup note, plan, study and machine.
-- Parameters: window start (inclusive), window end (exclusive), both dates, then an MRN
-- (Ident.IDA) twice, or NULL twice for every patient.
-- The columns are the contract of radonc_assets.backup.mosaiq.model.DELIVERY_COLUMNS, and the
-- mosaiq_backup_sql_query of a site returns the same columns for the window alone.
-- FLD_HST, when it names a field for the delivery, is the field version delivered, otherwise
-- Dose_Hst.FLD_ID is. Version = 0 selects the current row of the versioned Site tables.
SELECT
    Dose_Hst.DHS_ID AS DHS_ID,
    Dose_Hst.Pat_ID1 AS Pat_ID1,
    Dose_Hst.Tx_DtTm AS Tx_DtTm,
    Dose_Hst.Fractions_Tx AS Fraction_Number,
    Dose_Hst.Meterset AS Delivered_Meterset,
    Dose_Hst.Dose_Addtl_Projected AS Dose_Addtl_Projected,
    Dose_Hst.TerminationCode AS Termination_Code,
    Dose_Hst.Termination_Status_Enum AS Termination_Status_Enum,
    Dose_Hst.Termination_Verify_Status_Enum AS Verification_Status_Enum,
    Ident.IDA AS MRN,
    Patient.Last_Name AS Last_Name,
    Patient.First_Name AS First_Name,
    Patient.MIddle_Name AS Middle_Name,
    Patient.Suffix AS Suffix,
    Patient.Sex AS Sex,
    Patient.Birth_DtTm AS Birth_DtTm,
    TxField.FLD_ID AS FLD_ID,
    TxField.SIT_Set_ID AS Sit_Set_ID,
    TxField.OriginalPlanUID AS Plan_UID,
    TxField.OriginalBeamName AS Beam_Name,
    TxField.OriginalBeamNumber AS Beam_Number,
    TxField.Field_Name AS Field_Name,
    TxField.Field_Label AS Field_Label,
    TxField.Start_DtTm AS Field_Start_DtTm,
    TxField.Meterset AS Planned_Meterset,
    TxField.Sad AS Sad,
    TxField.Modality_Enum AS Modality_Enum,
    TxField.Type_Enum AS Type_Enum,
    TxField.Machine_ID_Staff_ID AS Machine_Staff_ID,
    Site.Site_Name AS Site_Name,
    Site.Fractions AS Fractions_Planned,
    SiteSetup.Setup_Note AS Setup_Note,
    RtPlan.Label AS Plan_Label,
    DCMStudy.StudyInstanceUID AS Study_UID,
    DCMStudy.StudyID AS Study_ID,
    DCMStudy.StudyDescription AS Study_Description,
    DCMStudy.Study_DtTm AS Study_DtTm,
    Staff.Last_Name AS Machine_Name,
    Machine.Source_Name AS Machine_Source_Name,
    Machine.Source_Model AS Machine_Model,
    Config.Inst_Name AS Institution
FROM Dose_Hst
LEFT JOIN FLD_HST ON FLD_HST.DHS_ID = Dose_Hst.DHS_ID
INNER JOIN TxField ON TxField.FLD_ID = COALESCE(FLD_HST.FLD_ID, Dose_Hst.FLD_ID)
LEFT JOIN Ident ON Ident.Pat_Id1 = Dose_Hst.Pat_ID1
LEFT JOIN Patient ON Patient.Pat_ID1 = Dose_Hst.Pat_ID1
LEFT JOIN Site ON Site.SIT_SET_ID = TxField.SIT_Set_ID AND Site.Version = 0
LEFT JOIN SiteSetup ON SiteSetup.Sit_Set_ID = TxField.SIT_Set_ID AND SiteSetup.Version = 0
LEFT JOIN DCMInstance ON DCMInstance.SOPInstanceUID = TxField.OriginalPlanUID
LEFT JOIN RtPlan ON RtPlan.DCMInstance_ID = DCMInstance.DCMInstance_ID
    AND RtPlan.Pat_ID1 = Dose_Hst.Pat_ID1
LEFT JOIN DCMSeries ON DCMSeries.DCMSeries_ID = DCMInstance.DCMSeries_ID
LEFT JOIN DCMStudy ON DCMStudy.DCMStudy_ID = DCMSeries.DCMStudy_ID
LEFT JOIN Staff ON Staff.Staff_ID = TxField.Machine_ID_Staff_ID
LEFT JOIN Machine ON Machine.MAC_ID = TxField.Machine_ID_Staff_ID
LEFT JOIN Config ON Config.CFG_ID = TxField.Inst_ID
WHERE Dose_Hst.Tx_DtTm >= ? AND Dose_Hst.Tx_DtTm < ? AND (? IS NULL OR Ident.IDA = ?)
ORDER BY Dose_Hst.Tx_DtTm, Dose_Hst.DHS_ID, DCMInstance.DCMInstance_ID
